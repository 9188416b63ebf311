import CoAPCodec
import CoAPEndpoint
import NIOCore
import ProcessorAPI

/// A client-side RPC over CoAP between its request and the backend's answer.
struct CoAPClientRPCWait {
    let exchange: CoAPServerExchange
    let deviceId: String
    let registration: UInt64
    /// The sink has the request.
    var accepted = false
    /// The backend's answer, if it came before the sink's verdict.
    var answer: String?
}

extension CoAPDeviceHandler {
    /// `POST /api/v1/{token}/rpc`, client-side RPC: `{"requestId":"coap-N",
    /// "payload":…}` to the RPC topic; the exchange stays open (an empty ACK
    /// after a second, RFC 7252 §5.2.2) for the backend's answer, an
    /// `rpc_response` command with that id, which comes back as 2.05 Content.
    /// If none came within COAP_ACK_TIMEOUT, though the sink has the
    /// request: 5.04 Gateway Timeout.
    func clientRPC(_ device: DeviceIdentity, _ exchange: CoAPServerExchange) {
        // Unique over the API's sockets: the answer comes back by this id.
        let id = "coap-" + String(api.shared.nextClientRPC())
        let handler = NIOLoopBound(self, eventLoop: exchange.eventLoop)
        let session = ClientRPCAnswerSession(transport: .coap, requestId: id) { answer in
            handler.eventLoop.execute { handler.value.clientRPCAnswered(id, answer) }
        }
        clientRPCs[id] = CoAPClientRPCWait(
            exchange: exchange, deviceId: device.id, registration: api.deviceSessions.register(deviceId: device.id, session: session))
        forwardRPC(device, exchange, kind: .clientRPC, id: id, completion: CoAPClientRPCCompletion(handler: handler, requestId: id))
        // Refused at once (not JSON, rate limit, a full queue): nothing to wait for.
        if exchange.isAnswered { endClientRPC(id) }
    }

    /// The sink's verdict on the request, on the event loop.
    func clientRPCAccepted(_ id: String, _ outcome: DeliveryOutcome) {
        guard var rpc = clientRPCs[id] else { return }
        switch outcome {
        case .delivered:
            if let answer = rpc.answer { return finishClientRPC(id, Self.answerResponse(answer)) }
            rpc.accepted = true
            clientRPCs[id] = rpc
        case .failed(let reason):
            finishClientRPC(id, CoAPUploadCompletion.unavailable(reason))
        }
    }

    /// The backend's answer, on the event loop.
    func clientRPCAnswered(_ id: String, _ answer: String) {
        guard var rpc = clientRPCs[id] else { return }
        if rpc.accepted { return finishClientRPC(id, Self.answerResponse(answer)) }
        rpc.answer = answer
        clientRPCs[id] = rpc
    }

    /// COAP_ACK_TIMEOUT passed: 5.04 when the sink has the request and only
    /// the answer is missing; nil when the sink's verdict is missing too,
    /// which is answered like any upload (5.03 sink_timeout).
    func clientRPCTimedOut(_ exchange: CoAPServerExchange) -> CoAPResponse? {
        guard let (id, rpc) = clientRPCs.first(where: { $0.value.exchange === exchange }) else { return nil }
        endClientRPC(id)
        guard rpc.accepted else { return nil }
        return CoAPResponse(code: .gatewayTimeout, text: "no answer to client-side RPC \(id) within the timeout")
    }

    private func finishClientRPC(_ id: String, _ response: CoAPResponse) {
        guard let rpc = clientRPCs[id] else { return }
        endClientRPC(id)
        rpc.exchange.respond(response)
    }

    private func endClientRPC(_ id: String) {
        guard let rpc = clientRPCs.removeValue(forKey: id) else { return }
        api.deviceSessions.unregister(deviceId: rpc.deviceId, registration: rpc.registration)
    }

    private static func answerResponse(_ answer: String) -> CoAPResponse {
        CoAPResponse(code: .content, text: answer, contentFormat: CoAPContentFormat.json)
    }
}

/// Carries the sink's verdict on a client-side RPC to the handler.
final class CoAPClientRPCCompletion: DeliveryCompletion {
    private let handler: NIOLoopBound<CoAPDeviceHandler>
    private let requestId: String

    init(handler: NIOLoopBound<CoAPDeviceHandler>, requestId: String) {
        self.handler = handler
        self.requestId = requestId
    }

    func complete(_ outcome: DeliveryOutcome) {
        let (handler, id) = (self.handler, requestId)
        handler.eventLoop.execute { handler.value.clientRPCAccepted(id, outcome) }
    }
}
