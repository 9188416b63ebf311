import CoAPCodec
import Logging
import CoAPEndpoint
import NIOCore
import ProcessorAPI

/// Why a device management operation did not succeed.
package enum LwM2MOperationError: Error, Sendable, Equatable, CustomStringConvertible {
    case notRegistered(deviceId: String)
    /// The device did not answer within the bound (admin API: 504).
    case timeout(operation: String, path: String, after: Duration)
    /// The device answered with an error code.
    case rejected(code: CoAPCode, message: String)
    /// The request itself is wrong (a value that does not fit, a format the device cannot carry).
    case invalid(String)
    /// The device answered with RST, or the server is not running.
    case unreachable(String)
    /// The device's answer could not be decoded.
    case badAnswer(String)

    package var description: String {
        switch self {
        case .notRegistered(let id): "device \(id) is not registered with the LwM2M server"
        case .timeout(let operation, let path, let after): "\(operation) \(path) timed out after \(after.components.seconds) s"
        case .rejected(let code, let message): "the device answered \(code)" + (message.isEmpty ? "" : ": \(message)")
        case .invalid(let reason): reason
        case .unreachable(let reason): reason
        case .badAnswer(let reason): "the device's answer is not valid: \(reason)"
        }
    }
}

/// A Read's answer: the values and the format they came in.
package struct LwM2MReadResult: Sendable, Equatable {
    package var path: LwM2MPath
    package var contentFormat: UInt32?
    package var nodes: [LwM2MNode]

    /// `{"path":"/3/0","contentFormat":11542,"values":{"3/0/0":"tb-test",…}}`.
    package var json: String {
        let values = nodes.map { JSONEscaping.quoted($0.path.key) + ":" + $0.value.json }.joined(separator: ",")
        let format = contentFormat.map(String.init) ?? "null"
        return #"{"path":"# + JSONEscaping.quoted(path.description) + #","contentFormat":\#(format),"values":{"# + values + "}}"
    }
}

extension LwM2MServer {
    /// Sends one request to a registered device and returns its 2.xx answer.
    package func perform(
        _ request: LwM2MRequest,
        deviceId: String,
        timeout: Duration? = nil,
        block2: CoAPBlockOption? = nil
    ) async throws(LwM2MOperationError) -> CoAPMessage {
        guard let registration = registrations.registration(deviceId: deviceId) else { throw .notRegistered(deviceId: deviceId) }
        guard let endpoint = currentEndpoint else { throw .unreachable("the LwM2M server is not running") }
        var message = CoAPMessage(type: .confirmable, code: CoAPCode(rawValue: request.code), messageId: 0, payload: ByteBuffer(bytes: request.payload))
        message.setURI(path: request.lwm2mPath?.uriPath ?? [], query: request.query)
        if let format = request.contentFormat { message.setUInt(.contentFormat, format) }
        if let accept = request.accept { message.setUInt(.accept, accept) }
        message.block2 = block2
        let bound = timeout ?? configuration.requestTimeout
        let response: CoAPMessage
        do {
            response = try await endpoint.request(message, to: registration.peer, timeout: bound).get()
        } catch let error as CoAPClientError {
            switch error {
            case .timeout: throw .timeout(operation: request.operation, path: request.path, after: bound)
            case .reset: throw .unreachable("the device answered \(request.operation) with RST")
            case .busy: throw .unreachable("too many requests wait for this device")
            case .closed, .cancelled: throw .unreachable("the LwM2M server is stopping")
            }
        } catch {
            throw .unreachable("\(error)")
        }
        guard response.code.isSuccess else {
            throw .rejected(code: response.code, message: String(buffer: response.payload))
        }
        return response
    }

    /// Read (Core §6.3.1), with Block2 transfers reassembled.
    package func read(
        deviceId: String,
        path: LwM2MPath,
        format: UInt32? = nil,
        timeout: Duration? = nil
    ) async throws(LwM2MOperationError) -> LwM2MReadResult {
        let request = LwM2MRequest.read(path, format: format)
        var response = try await perform(request, deviceId: deviceId, timeout: timeout)
        var body = Array(response.payload.readableBytesView)
        var expected: UInt32 = 0
        while let block = response.block2, block.more, body.count < configuration.endpoint.maxBodySize {
            // RFC 7959 §2.2: a block with M=1 carries exactly its size, and
            // it is the block asked for. A device answering empty blocks
            // with M=1 (or the same block again) would otherwise keep this
            // loop going for ever.
            guard block.number == expected, response.payload.readableBytes == block.size, block.number < CoAPBlockOption.maxNumber else {
                throw .badAnswer("Block2 \(block.number) of \(response.payload.readableBytes) bytes where block \(expected) of \(block.size) was due")
            }
            // RFC 7959 §2.4: ask for the next block of the same representation.
            expected = block.number + 1
            let next = CoAPBlockOption(number: expected, more: false, sizeExponent: block.sizeExponent)
            response = try await perform(request, deviceId: deviceId, timeout: timeout, block2: next)
            body += response.payload.readableBytesView
        }
        return try decodeRead(body, contentFormat: response.contentFormat ?? format, path: path)
    }

    func decodeRead(_ body: [UInt8], contentFormat: UInt32?, path: LwM2MPath) throws(LwM2MOperationError) -> LwM2MReadResult {
        do {
            let nodes = try LwM2MContentFormat.decode(body, format: contentFormat, path: path, types: models.type(of:))
            return LwM2MReadResult(path: path, contentFormat: contentFormat, nodes: nodes)
        } catch {
            throw .badAnswer("\(error)")
        }
    }

    /// Write (Core §6.3.3): PUT replaces, POST updates partially. TLV unless
    /// another format is asked for.
    package func write(
        deviceId: String,
        path: LwM2MPath,
        nodes: [LwM2MNode],
        replace: Bool = true,
        format: UInt32 = LwM2MTLV.contentFormat,
        timeout: Duration? = nil
    ) async throws(LwM2MOperationError) {
        _ = try await perform(try .write(path, nodes: nodes, replace: replace, format: format), deviceId: deviceId, timeout: timeout)
    }

    /// Execute (Core §6.3.4), with optional arguments as text.
    package func execute(deviceId: String, path: LwM2MPath, arguments: String = "", timeout: Duration? = nil) async throws(LwM2MOperationError) {
        _ = try await perform(try .execute(path, arguments: arguments), deviceId: deviceId, timeout: timeout)
    }

    /// Discover (Core §6.3.2): the links and attributes below a path.
    package func discover(deviceId: String, path: LwM2MPath, timeout: Duration? = nil) async throws(LwM2MOperationError) -> [CoRELink] {
        let response = try await perform(.discover(path), deviceId: deviceId, timeout: timeout)
        do {
            return try CoRELinkFormat.decode(String(buffer: response.payload))
        } catch {
            throw .badAnswer("not link format: \(error)")
        }
    }

    /// Write-Attributes (Core §6.3.5): `pmin=1`, `pmax=10`, `gt=30`, `lt=5`, `st=0.5` as Uri-Query.
    package func writeAttributes(deviceId: String, path: LwM2MPath, query: [String], timeout: Duration? = nil) async throws(LwM2MOperationError) {
        _ = try await perform(try .writeAttributes(path, query: query), deviceId: deviceId, timeout: timeout)
    }

    /// Create (Core §6.3.6): a new instance of the object at `path`.
    package func create(deviceId: String, path: LwM2MPath, nodes: [LwM2MNode], timeout: Duration? = nil) async throws(LwM2MOperationError) {
        _ = try await perform(try .create(path, nodes: nodes), deviceId: deviceId, timeout: timeout)
    }

    /// Delete (Core §6.3.7) of an object instance.
    package func delete(deviceId: String, path: LwM2MPath, timeout: Duration? = nil) async throws(LwM2MOperationError) {
        _ = try await perform(try .delete(path), deviceId: deviceId, timeout: timeout)
    }

    // MARK: Observe (Core §6.4.1, §6.4.2)

    /// Observes a path; the first value and every notification go to the
    /// processor as telemetry. Returns the first value.
    @discardableResult
    package func observe(deviceId: String, path: LwM2MPath, format: UInt32? = nil, timeout: Duration? = nil) async throws(LwM2MOperationError) -> LwM2MReadResult {
        guard let registration = registrations.registration(deviceId: deviceId) else { throw .notRegistered(deviceId: deviceId) }
        guard let endpoint = currentEndpoint else { throw .unreachable("the LwM2M server is not running") }
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 0)
        message.setURI(path: path.uriPath)
        if let format { message.setUInt(.accept, format) }
        let bound = timeout ?? configuration.requestTimeout
        let first: CoAPMessage
        do {
            first = try await endpoint.observe(message, to: registration.peer, timeout: bound) { [self] notification, acknowledgement in
                notified(notification, acknowledgement: acknowledgement, deviceId: deviceId, path: path, format: format)
            }.get()
        } catch let error as CoAPClientError {
            if error == .timeout { throw .timeout(operation: "observe", path: path.description, after: bound) }
            throw .unreachable("observe \(path): \(error)")
        } catch {
            throw .unreachable("\(error)")
        }
        guard first.code.isSuccess else { throw .rejected(code: first.code, message: String(buffer: first.payload)) }
        if first.observe != nil { rememberObservation(deviceId: deviceId, path: path, token: first.token) }
        let nodes: [LwM2MNode]
        do {
            nodes = try LwM2MContentFormat.decode(
                Array(first.payload.readableBytesView), format: first.contentFormat ?? format, path: path, types: models.type(of:))
        } catch {
            throw .badAnswer("\(error)")
        }
        _ = forward(nodes, registration: registration, completion: UnacknowledgedCompletion.shared)
        logger.info("LwM2M observation started", metadata: ["device_id": "\(deviceId)", "path": "\(path)", "transport": "lwm2m"])
        return LwM2MReadResult(path: path, contentFormat: first.contentFormat ?? format, nodes: nodes)
    }

    /// Cancel-Observation: actively (GET with Observe=1) by default.
    package func cancelObservation(deviceId: String, path: LwM2MPath) async throws(LwM2MOperationError) {
        guard let registration = registrations.registration(deviceId: deviceId) else { throw .notRegistered(deviceId: deviceId) }
        guard let token = observationToken(deviceId: deviceId, path: path), let endpoint = currentEndpoint else {
            throw .invalid("\(path) is not observed")
        }
        rememberObservation(deviceId: deviceId, path: path, token: nil)
        var request = CoAPMessage(type: .confirmable, code: .get, messageId: 0)
        request.setURI(path: path.uriPath)
        _ = try? await endpoint.cancelObservation(token: token, peer: registration.peer, request: request).get()
        logger.info("LwM2M observation cancelled", metadata: ["device_id": "\(deviceId)", "path": "\(path)", "transport": "lwm2m"])
    }

    /// One notification: decoded by the model and forwarded as telemetry.
    /// A confirmable one is acknowledged once the sink accepted its values
    /// (architecture: a device is acknowledged only after the sink); one the
    /// gateway could not take is left unacknowledged, so the device sends it
    /// again (RFC 7252 §4.2). One that cannot be decoded is acknowledged and
    /// counted: sending it again would not help.
    private func notified(
        _ notification: CoAPMessage, acknowledgement: CoAPNotificationAcknowledgement?, deviceId: String, path: LwM2MPath, format: UInt32?
    ) {
        guard let registration = registrations.registration(deviceId: deviceId) else {
            acknowledgement?.refused()
            return
        }
        guard notification.code.isSuccess, notification.observe != nil else {
            // RFC 7641 §3.2: a notification without Observe or with an error ends it.
            rememberObservation(deviceId: deviceId, path: path, token: nil)
            acknowledgement?.accepted()
            return
        }
        let nodes: [LwM2MNode]
        do {
            nodes = try LwM2MContentFormat.decode(
                Array(notification.payload.readableBytesView), format: notification.contentFormat ?? format, path: path,
                types: models.type(of:))
        } catch {
            metrics.dropped(.invalidPayload)
            logger.warning("LwM2M notification not valid", metadata: ["device_id": "\(deviceId)", "path": "\(path)", "error": "\(error)"])
            acknowledgement?.accepted()
            return
        }
        let completion: any DeliveryCompletion =
            acknowledgement.map { LwM2MNotificationCompletion($0) as any DeliveryCompletion } ?? UnacknowledgedCompletion.shared
        if let refusal = forward(nodes, registration: registration, completion: completion) {
            metrics.dropped(refusal)
            acknowledgement?.refused()
        }
    }
}

/// The sink's verdict on a confirmable notification's values, as its
/// answer to the device: the ACK when delivered, none otherwise.
final class LwM2MNotificationCompletion: DeliveryCompletion {
    private let acknowledgement: CoAPNotificationAcknowledgement

    init(_ acknowledgement: CoAPNotificationAcknowledgement) {
        self.acknowledgement = acknowledgement
    }

    func complete(_ outcome: DeliveryOutcome) {
        if outcome == .delivered { acknowledgement.accepted() } else { acknowledgement.refused() }
    }

    var eventLoop: (any EventLoop)? { acknowledgement.eventLoop }

    func completeOnEventLoop(_ outcome: DeliveryOutcome) {
        complete(outcome)
    }
}
