import Auth
import Logging
import NIOCore
import NIOHTTP1
import ProcessorAPI

/// What a long-poll waits for.
enum HTTPLongPollResource: String {
    /// `GET /api/v1/{token}/attributes/updates?timeout=MS`: the next shared-attribute change.
    case attributes
    /// `GET /api/v1/{token}/rpc?timeout=MS`: the next server-side RPC request.
    case rpc
}

/// Downlink over HTTP, as ThingsBoard's HTTP API does it: a long-poll is a
/// downlink session for as long as it waits; RPC replies and client-side
/// RPC are uplinks to the RPC topic.
extension HTTPDeviceHandler {
    static let maximumLongPoll = 3_600_000

    /// `?timeout=MS` (default 30 s); a bad value is answered 400 here.
    func longPollTimeout(_ query: Substring) -> TimeAmount? {
        guard let text = DeviceHTTPRoute.value("timeout", in: query) else { return .seconds(30) }
        guard let milliseconds = Int(text), (1...Self.maximumLongPoll).contains(milliseconds) else {
            respond(.error(.badRequest, "timeout must be 1 to \(Self.maximumLongPoll) milliseconds"))
            return nil
        }
        return .milliseconds(Int64(milliseconds))
    }

    func longPoll(_ device: DeviceIdentity, for resource: HTTPLongPollResource, timeout: TimeAmount) {
        guard let context else { return }
        let session = HTTPLongPollSession(handler: NIOLoopBound(self, eventLoop: context.eventLoop), generation: generation, resource: resource)
        longPollRegistration = (device.id, api.deviceSessions.register(deviceId: device.id, session: session))
        awaiting = true
        if resource == .rpc { api.deviceSessions.rpcReady(deviceId: device.id) }
        api.logger.info(
            "HTTP long-poll waiting", metadata: ["device_id": "\(device.id)", "resource": "\(resource.rawValue)", "transport": "http"])
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let expected = generation
        self.timeout = context.eventLoop.scheduleTask(in: timeout) {
            let handler = bound.value
            guard handler.awaiting, handler.generation == expected else { return }
            // Nothing came: 408, and the device polls again.
            handler.respond(.error(.requestTimeout, "no \(resource == .rpc ? "RPC request" : "attribute update") within the timeout"))
        }
    }

    /// A downlink message for the waiting long-poll, on the event loop.
    func longPollDelivered(_ payload: String, generation: UInt64, rpcId: Int?) {
        guard awaiting, generation == self.generation, let (deviceId, _) = longPollRegistration else { return }
        var written: (@Sendable () -> Void)?
        if let rpcId {
            let sessions = api.deviceSessions
            written = { sessions.rpcDelivered(deviceId: deviceId, id: rpcId) }
        }
        respond(.json(.ok, payload), written: written)
    }

    func endLongPoll() {
        guard let (deviceId, registration) = longPollRegistration else { return }
        longPollRegistration = nil
        api.deviceSessions.unregister(deviceId: deviceId, registration: registration)
    }

    /// `POST /api/v1/{token}/rpc`, client-side RPC: `{"requestId":"http-N",
    /// "payload":…}` to the RPC topic; the request waits, up to
    /// HTTP_ACK_TIMEOUT in all, for the backend's answer (an `rpc_response`
    /// command with that id) and returns it with 200, or 408 once the record
    /// is in Kafka but no answer came, as ThingsBoard's HTTP API does.
    func clientRPC(_ device: DeviceIdentity, body: ByteBuffer) {
        guard let context else { return }
        let id = "http-" + String(api.clientRPCNumbers.next())
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let expected = generation
        let session = ClientRPCAnswerSession(transport: .http, requestId: id) { answer in
            handler.eventLoop.execute { handler.value.clientRPCAnswered(answer, generation: expected) }
        }
        clientRPC = HTTPClientRPCWait(
            deviceId: device.id, registration: api.deviceSessions.register(deviceId: device.id, session: session), requestId: id)
        // A payload that is not JSON is answered 400 there, which ends the wait.
        forwardRPC(device, body: body, kind: .clientRPC, id: id)
    }

    /// The backend's answer, on the event loop: returned at once if the
    /// sink already has the request, otherwise as soon as it has.
    func clientRPCAnswered(_ answer: String, generation: UInt64) {
        guard awaiting, generation == self.generation, var rpc = clientRPC else { return }
        if rpc.accepted { return respond(.json(.ok, answer)) }
        rpc.answer = answer
        clientRPC = rpc
    }

    func endClientRPC() {
        guard let rpc = clientRPC else { return }
        clientRPC = nil
        api.deviceSessions.unregister(deviceId: rpc.deviceId, registration: rpc.registration)
    }

    /// `POST /api/v1/{token}/rpc/{id}` (reply) and client-side RPC:
    /// `{"requestId":"…","payload":…}` to the RPC topic, 200 after the sink
    /// has it.
    func forwardRPC(_ device: DeviceIdentity, body: ByteBuffer, kind: MessageKind, id: String) {
        api.metrics.messageReceived(.http)
        guard let values = ThingsBoardPayload.rpcEnvelope(id: id, payload: body) else {
            api.metrics.dropped(.invalidPayload)
            return respond(.error(.badRequest, "RPC payload must be one JSON value"))
        }
        if kind == .rpcResponse { api.deviceSessions.rpcReplied(deviceId: device.id, id: id, payload: String(buffer: body)) }
        let receivedAt = EpochClock.nowMilliseconds()
        submit(device, kind: kind, entries: [TelemetryEntry(ts: receivedAt, values: values)], receivedAt: receivedAt)
    }
}

/// A waiting long-poll as a downlink target: the first message of its kind answers it.
struct HTTPLongPollSession: DeviceSession {
    let handler: NIOLoopBound<HTTPDeviceHandler>
    let generation: UInt64
    let resource: HTTPLongPollResource
    var transport: TransportKind { .http }

    func carries(_ message: DownlinkMessage) -> Bool { !message.isRPCResponse && message.isRPC == (resource == .rpc) }

    func deliver(_ message: DownlinkMessage) {
        let payload: String
        var rpcId: Int?
        switch (message, resource) {
        case (.sharedAttributesUpdated(let json), .attributes):
            payload = json
        case (.sharedAttributesDeleted(let keys), .attributes):
            payload = #"{"deleted":["# + keys.map(JSONEscaping.quoted).joined(separator: ",") + "]}"
        case (.rpcRequest(let id, let method, let params), .rpc):
            payload = #"{"id":\#(id),"method":"# + JSONEscaping.quoted(method) + #","params":"# + params + "}"
            rpcId = id
        default:
            return
        }
        let (handler, generation, id) = (self.handler, self.generation, rpcId)
        handler.eventLoop.execute { handler.value.longPollDelivered(payload, generation: generation, rpcId: id) }
    }
}

/// A client-side RPC over HTTP between its request and the backend's answer.
struct HTTPClientRPCWait {
    let deviceId: String
    let registration: UInt64
    let requestId: String
    /// The sink has the request.
    var accepted = false
    /// The backend's answer, if it came before the sink's verdict.
    var answer: String?
}
