import CoAPCodec
import CoAPEndpoint
import NIOCore
import ProcessorAPI

extension LwM2MClientHandler {
    // MARK: Write (Core §6.3.2)

    /// PUT (replace) or POST on an instance (partial update): each written
    /// resource's key becomes a shared attribute of the device, stored and
    /// pushed to it through the downlink router; 2.04 once stored.
    func write(_ exchange: CoAPServerExchange, _ path: LwM2MPath, replace: Bool) {
        guard path.objectId != LwM2MClientObjects.serverObject, path.objectId != LwM2MClientObjects.deviceObject else {
            return answer(exchange, .write, CoAPResponse(code: .methodNotAllowed, text: "the gateway's own objects are read-only"))
        }
        guard let instance = objects.instance(path), path.resourceInstanceId == nil else {
            return answer(exchange, .write, CoAPResponse(code: .notFound))
        }
        let request = exchange.request
        if let format = request.contentFormat, !LwM2MContentFormat.supported.contains(format) || format == CoRELinkFormat.contentFormat {
            return answer(exchange, .write, CoAPResponse(code: .unsupportedContentFormat))
        }
        let written: [LwM2MNode]
        do {
            written = try LwM2MContentFormat.decode(
                Array(request.payload.readableBytesView), format: request.contentFormat, path: path,
                types: { instance.object.resource($0.resourceId ?? .max)?.type })
        } catch {
            return answer(exchange, .write, CoAPResponse(code: .badRequest, text: error.description))
        }
        var values: [(key: String, json: String)] = []
        for node in written {
            guard path.contains(node.path), let resourceId = node.path.resourceId, let resource = instance.object.resource(resourceId) else {
                return answer(exchange, .write, CoAPResponse(code: .notFound, text: "no resource \(node.path)"))
            }
            guard resource.isWritable else {
                return answer(exchange, .write, CoAPResponse(code: .methodNotAllowed, text: "\(node.path) is not writable"))
            }
            switch resource.source {
            case .key(let key):
                guard let value = node.value.converted(to: resource.type) else {
                    return answer(exchange, .write, CoAPResponse(code: .badRequest, text: "\(node.path) takes \(resource.type.rawValue)"))
                }
                values.append((key, value.json))
            case .sharedAttributes:
                // A JSON object as a string: its keys become shared attributes.
                guard case .string(let text)? = node.value.converted(to: .string),
                    let update = try? ThingsBoardPayload.parseAttributes(ByteBuffer(string: text), receivedAt: 0)
                else {
                    return answer(exchange, .write, CoAPResponse(code: .badRequest, text: "\(node.path) takes a JSON object"))
                }
                values += update.values
            default:
                return answer(exchange, .write, CoAPResponse(code: .methodNotAllowed, text: "\(node.path) is not writable"))
            }
        }
        guard !values.isEmpty else { return answer(exchange, .write, CoAPResponse(code: .badRequest, text: "nothing to write")) }
        let (deviceId, writeShared) = (instance.deviceId, downlink.writeShared)
        let bound = NIOLoopBound((self, exchange), eventLoop: exchange.eventLoop)
        let shared = values
        Task {
            let stored = await writeShared(deviceId, shared)
            bound.eventLoop.execute {
                let (handler, exchange) = bound.value
                handler.answer(exchange, .write, stored ? CoAPResponse(code: .changed) : CoAPResponse(code: .internalServerError, text: "registry unavailable"))
            }
        }
    }

    // MARK: Execute (Core §6.3.5)

    /// An executable resource of a device becomes a one-way RPC named after
    /// the resource, its arguments (Core §5.4.5) as a JSON string param;
    /// /1/0/8 triggers a registration Update.
    func execute(_ exchange: CoAPServerExchange, _ path: LwM2MPath) {
        if path == LwM2MPath(LwM2MClientObjects.serverObject, 0, 8) {
            onUpdateTrigger()
            return answer(exchange, .execute, CoAPResponse(code: .changed))
        }
        guard let instance = objects.instance(path), let resourceId = path.resourceId,
            let resource = instance.object.resource(resourceId)
        else {
            let ownObject = path.objectId == LwM2MClientObjects.serverObject || path.objectId == LwM2MClientObjects.deviceObject
            return answer(exchange, .execute, CoAPResponse(code: ownObject ? .methodNotAllowed : .notFound))
        }
        guard resource.isExecutable else {
            return answer(exchange, .execute, CoAPResponse(code: .methodNotAllowed, text: "\(path) is not executable"))
        }
        let arguments = String(buffer: exchange.request.payload)
        let params = arguments.isEmpty ? "{}" : JSONEscaping.quoted(arguments)
        guard downlink.rpc(instance.deviceId, resource.name, params) > 0 else {
            return answer(exchange, .execute, CoAPResponse(code: .serviceUnavailable, text: "device \(instance.deviceName) has no live session that takes RPC"))
        }
        answer(exchange, .execute, CoAPResponse(code: .changed))
    }
}
