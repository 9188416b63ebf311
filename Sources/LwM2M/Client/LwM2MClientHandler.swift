import CoAPCodec
import CoAPEndpoint
import Auth
import Logging
import NIOCore
import ProcessorAPI

/// How operations of the upstream server reach the devices: through the
/// registry and the downlink router, as the admin API's do.
package struct LwM2MClientDownlink: Sendable {
    /// Stores shared attributes and delivers them to the device's
    /// sessions; false when the registry failed.
    package var writeShared: @Sendable (_ deviceId: String, _ values: [(key: String, json: String)]) async -> Bool
    /// A one-way RPC to the device's sessions; how many took it.
    package var rpc: @Sendable (_ deviceId: String, _ method: String, _ params: String) -> Int

    package init(
        writeShared: @escaping @Sendable (String, [(key: String, json: String)]) async -> Bool,
        rpc: @escaping @Sendable (String, String, String) -> Int
    ) {
        self.writeShared = writeShared
        self.rpc = rpc
    }
}

/// Serves the upstream server's Device Management and Information
/// Reporting operations (Core §6.3, §6.4) on the client's endpoint, on its
/// event loop: Read, Discover, Write, Write-Attributes, Execute, Observe
/// and Cancel; Create and Delete are answered 4.05 (devices come and go
/// through the registry, not through the server).
final class LwM2MClientHandler: CoAPRequestHandler {
    let values: LwM2MLastValues
    let models: LwM2MModelRegistry
    let downlink: LwM2MClientDownlink
    let metrics: GatewayMetrics
    let logger: Logger
    /// The registration update trigger (/1/0/8).
    let onUpdateTrigger: @Sendable () -> Void
    var objects = LwM2MClientObjects(devices: [])
    var own: LwM2MClientOwnObjects
    /// The format of a Read without Accept: TLV for LwM2M 1.0, SenML JSON for 1.1.
    let preferredFormat: UInt32
    /// Write-Attributes by path (Core §5.1.2).
    var attributes: [LwM2MPath: LwM2MNotificationAttributes] = [:]
    var observations: [ObjectIdentifier: LwM2MClientObservation] = [:]
    var tick: RepeatedTask?
    /// Set while a bootstrap server configures the client (Core §6.1).
    var bootstrap: LwM2MBootstrapSession?
    /// The addresses whose requests are served: the LwM2M server the
    /// client registered with and the bootstrap server. Anyone else who
    /// learns the client's port is refused (until DTLS gives identities).
    private(set) var server: SocketAddress?
    private(set) var bootstrapServer: SocketAddress?
    /// One warning per address and minute for refused strangers.
    let strangers = WarningThrottle()

    init(
        own: LwM2MClientOwnObjects, values: LwM2MLastValues, models: LwM2MModelRegistry, downlink: LwM2MClientDownlink,
        metrics: GatewayMetrics, logger: Logger, onUpdateTrigger: @escaping @Sendable () -> Void
    ) {
        self.own = own
        self.values = values
        self.models = models
        self.downlink = downlink
        self.metrics = metrics
        self.logger = logger
        self.onUpdateTrigger = onUpdateTrigger
        self.preferredFormat = own.version == "1.0" ? LwM2MTLV.contentFormat : SenMLJSON.contentFormat
    }

    func trust(server: SocketAddress) { self.server = server }
    func trust(bootstrapServer: SocketAddress) { self.bootstrapServer = bootstrapServer }

    func handleRequest(_ exchange: CoAPServerExchange) {
        guard exchange.peer == server || exchange.peer == bootstrapServer else {
            // LwM2M Core §7.1: only a server with an account may operate on
            // the client. 4.03, counted, logged once a minute per address.
            metrics.connectionRefused(TransportKind.lwm2m.rawValue, .unknownPeer)
            let address = exchange.peer.ipAddress ?? "\(exchange.peer)"
            if strangers.shouldWarn(address) {
                logger.warning("LwM2M client: request from an address that is not its server refused", metadata: ["peer": "\(exchange.peer)"])
            }
            return exchange.respond(CoAPResponse(code: .forbidden, text: "not this client's LwM2M server"))
        }
        if var session = bootstrap {
            handleBootstrap(exchange, &session)
            if bootstrap != nil { bootstrap = session }
            return
        }
        let request = exchange.request
        guard let path = LwM2MPath(segments: request.uriPath) else {
            return exchange.respond(CoAPResponse(code: .notFound, text: "not an LwM2M path"))
        }
        // The Security object is not accessible to a server (Core §E.1).
        guard path.objectId != 0 else { return answer(exchange, .read, CoAPResponse(code: .unauthorized)) }
        switch request.code {
        case .get where request.accept == CoRELinkFormat.contentFormat: discover(exchange, path)
        case .get where request.observe == 0: observe(exchange, path)
        case .get: read(exchange, path)
        case .put where request.payload.readableBytes == 0 && !request.uriQuery.isEmpty: writeAttributes(exchange, path)
        case .put: write(exchange, path, replace: true)
        case .post where path.isResource: execute(exchange, path)
        case .post where path.isInstance: write(exchange, path, replace: false)
        case .post: answer(exchange, .create, CoAPResponse(code: .methodNotAllowed, text: "objects here follow the device registry"))
        case .delete: answer(exchange, .delete, CoAPResponse(code: .methodNotAllowed, text: "objects here follow the device registry"))
        default: exchange.respond(CoAPResponse(code: .methodNotAllowed))
        }
    }

    func answer(_ exchange: CoAPServerExchange, _ operation: GatewayMetrics.LwM2MClientOperation, _ response: CoAPResponse) {
        metrics.lwm2mClientOperation(operation, success: response.code.isSuccess)
        if !response.code.isSuccess {
            logger.info(
                "LwM2M client operation refused",
                metadata: ["operation": "\(operation.rawValue)", "path": "\(exchange.request.uriString)", "code": "\(response.code)"])
        }
        exchange.respond(response)
    }

    // MARK: Read (Core §6.3.1)

    /// The values at `path` now; nil when there is no such object,
    /// instance or readable resource.
    func nodes(at path: LwM2MPath) -> [LwM2MNode]? {
        let all: [LwM2MNode]
        switch path.objectId {
        case LwM2MClientObjects.serverObject:
            guard path.instanceId == nil || path.instanceId == 0 else { return nil }
            all = own.server()
        case LwM2MClientObjects.deviceObject:
            guard path.instanceId == nil || path.instanceId == 0 else { return nil }
            all = own.device(now: EpochClock.nowMilliseconds() / 1000)
        default:
            if path.isObject {
                let instances = objects.instances(object: path.objectId)
                guard !instances.isEmpty else { return nil }
                return instances.flatMap { $0.nodes(values: values.values(deviceId: $0.deviceId)) }
            }
            guard let instance = objects.instance(path) else { return nil }
            if let resourceId = path.resourceId {
                guard path.resourceInstanceId == nil, let resource = instance.object.resource(resourceId), resource.isReadable,
                    let value = instance.value(of: resource, values: values.values(deviceId: instance.deviceId))
                else { return nil }
                return [LwM2MNode(path, value)]
            }
            return instance.nodes(values: values.values(deviceId: instance.deviceId))
        }
        let selected = all.filter { path.contains($0.path) }
        return selected.isEmpty ? nil : selected
    }

    /// The answer to a Read (and an Observe's first and later values) in the
    /// format the server asked for with Accept, or the preferred one.
    func content(_ nodes: [LwM2MNode], path: LwM2MPath, accept: UInt32?) -> CoAPResponse {
        var format = accept ?? preferredFormat
        // Plain text carries one value only; without Accept a single resource may use it, more may not.
        if accept == nil, nodes.count > 1, format == LwM2MPlainText.contentFormat { format = LwM2MTLV.contentFormat }
        guard LwM2MContentFormat.supported.contains(format), format != CoRELinkFormat.contentFormat,
            let bytes = LwM2MContentFormat.encode(nodes, format: format, path: path)
        else {
            return CoAPResponse(code: .notAcceptable, text: "content format \(format) cannot carry \(path)")
        }
        return CoAPResponse(code: .content, options: [CoAPOption(.contentFormat, uint: format)], payload: ByteBuffer(bytes: bytes))
    }

    private func read(_ exchange: CoAPServerExchange, _ path: LwM2MPath) {
        guard let nodes = nodes(at: path) else { return answer(exchange, .read, CoAPResponse(code: .notFound)) }
        answer(exchange, .read, content(nodes, path: path, accept: exchange.request.accept))
    }

    // MARK: Discover (Core §6.3.3)

    /// `</3303/0>,</3303/0/5700>;pmax=60,…`: the object, instance or
    /// resource and what lies below it, with the attributes set on each.
    private func discover(_ exchange: CoAPServerExchange, _ path: LwM2MPath) {
        var targets: [LwM2MPath] = []
        switch path.objectId {
        case LwM2MClientObjects.serverObject, LwM2MClientObjects.deviceObject:
            guard path.instanceId == nil || path.instanceId == 0 else { return answer(exchange, .discover, CoAPResponse(code: .notFound)) }
            let resources = path.objectId == LwM2MClientObjects.serverObject ? LwM2MClientOwnObjects.serverResources : LwM2MClientOwnObjects.deviceResources
            targets = [LwM2MPath(path.objectId, 0)] + resources.map { LwM2MPath(path.objectId, 0, $0.id) }
        default:
            let instances = path.isObject ? objects.instances(object: path.objectId) : objects.instance(path).map { [$0] } ?? []
            for instance in instances {
                targets.append(instance.path)
                targets += instance.object.resources.map { LwM2MPath(instance.object.objectId, instance.instanceId, $0.id) }
            }
        }
        if path.isObject { targets.insert(path, at: 0) }
        targets = targets.filter { path.contains($0) }
        guard !targets.isEmpty, path.resourceInstanceId == nil else { return answer(exchange, .discover, CoAPResponse(code: .notFound)) }
        let links = targets.map { target in
            CoRELink(target.description, attributes[target]?.linkParameters ?? [])
        }
        answer(exchange, .discover, CoAPResponse(code: .content, text: CoRELinkFormat.encode(links), contentFormat: CoRELinkFormat.contentFormat))
    }
}
