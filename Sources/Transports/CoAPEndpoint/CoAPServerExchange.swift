import CoAPCodec
import NIOCore

/// What a server answers: code, options and payload. Message type, message
/// id, token, Observe, Block1 and Block2 are the endpoint's business.
package struct CoAPResponse: Sendable {
    package var code: CoAPCode
    package var options: [CoAPOption]
    package var payload: ByteBuffer

    package init(code: CoAPCode, options: [CoAPOption] = [], payload: ByteBuffer = ByteBuffer()) {
        self.code = code
        self.options = options
        self.payload = payload
    }

    /// A response with a text payload and its Content-Format.
    package init(code: CoAPCode, text: String, contentFormat: UInt32 = CoAPContentFormat.textPlain) {
        self.init(
            code: code, options: text.isEmpty ? [] : [CoAPOption(.contentFormat, uint: contentFormat)],
            payload: ByteBuffer(string: text))
    }
}

/// The application side of a server endpoint. Called on the endpoint's event
/// loop, once per request (after duplicate detection and Block1 assembly).
package protocol CoAPRequestHandler: AnyObject {
    /// Answer with `exchange.respond`, now or later, on the event loop.
    func handleRequest(_ exchange: CoAPServerExchange)
    /// A datagram that is not valid CoAP (already answered with RST where §4.2 says so).
    func rejectedDatagram(from peer: SocketAddress, error: CoAPCodecError)
    /// The exchange is still unanswered after `responseTimeout`.
    func exchangeTimedOut(_ exchange: CoAPServerExchange)
    /// A Block1 transfer was refused 5.03 at its first block: `perAddress`
    /// when the peer's address held `maxBlockTransfersPerAddress`, else all
    /// `maxBlockTransfers` slots were taken.
    func blockTransferRefused(from peer: SocketAddress, perAddress: Bool)
}

extension CoAPRequestHandler {
    package func rejectedDatagram(from peer: SocketAddress, error: CoAPCodecError) {}
    package func blockTransferRefused(from peer: SocketAddress, perAddress: Bool) {}
    package func exchangeTimedOut(_ exchange: CoAPServerExchange) {
        exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 1)]))
    }
}

/// One request being served. Lives on the endpoint's event loop; the
/// endpoint decides how the answer travels (piggybacked on the ACK, or an
/// empty ACK first and a separate CON response, §5.2).
package final class CoAPServerExchange {
    enum State { case pending, separate, answered }

    /// The request; after Block1 assembly, with the whole body as payload.
    package let request: CoAPMessage
    package let peer: SocketAddress
    package let eventLoop: any EventLoop
    let key: CoAPMessageKey
    let arrived: NIODeadline
    var state: State = .pending
    /// RFC 7959 §2.3: the last Block1 is echoed in the final response.
    var block1Echo: CoAPBlockOption?
    /// Set when the handler accepts an Observe registration.
    var observation: CoAPObservation?
    private weak var endpoint: CoAPEndpointHandler?

    init(request: CoAPMessage, peer: SocketAddress, endpoint: CoAPEndpointHandler, eventLoop: any EventLoop) {
        self.request = request
        self.peer = peer
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.key = CoAPMessageKey(peer: peer, messageId: request.messageId)
        self.arrived = .now()
    }

    package var isAnswered: Bool { state == .answered }

    /// Sends the response (once; later calls are ignored). On the event loop.
    package func respond(_ response: CoAPResponse) {
        eventLoop.preconditionInEventLoop()
        guard state != .answered, let endpoint else { return }
        endpoint.answer(self, response)
    }

    /// For a GET with Observe=0 (RFC 7641 §3.1): registers the client as an
    /// observer of this resource; the response then carries Observe. Returns
    /// nil for any other request. `onCancel` runs (on the event loop) when
    /// the observation ends by the client's doing or because it went away.
    package func acceptObservation(onCancel: @escaping (CoAPObservation.EndReason) -> Void) -> CoAPObservation? {
        guard request.code == .get, request.observe == 0, state != .answered, let endpoint else { return nil }
        let observation = CoAPObservation(
            peer: peer, token: request.token, request: request, endpoint: endpoint, eventLoop: eventLoop, onCancel: onCancel)
        self.observation = observation
        return observation
    }
}
