import CoAPCodec
import NIOCore

/// Why a client request got no response.
package enum CoAPClientError: Error, Sendable, Equatable {
    /// No ACK after MAX_RETRANSMIT, or no separate/NON response in time.
    case timeout
    /// The server answered with RST.
    case reset
    /// Too many CONs already wait for this peer (NSTART).
    case busy
    case closed
}

/// A request this endpoint sent as a client, waiting for its response.
final class CoAPClientExchange {
    let key: CoAPTokenKey
    let completion: (Result<CoAPMessage, CoAPClientError>) -> Void
    var timeout: Scheduled<Void>?

    init(key: CoAPTokenKey, completion: @escaping (Result<CoAPMessage, CoAPClientError>) -> Void) {
        self.key = key
        self.completion = completion
    }
}

extension CoAPEndpointHandler {
    /// Sends a request as a client (§5.2): a fresh token and message id; a
    /// CON is retransmitted until acknowledged; the response comes
    /// piggybacked or separately and is matched by (peer, token).
    func sendRequest(
        _ request: CoAPMessage,
        to peer: SocketAddress,
        completion: @escaping (Result<CoAPMessage, CoAPClientError>) -> Void
    ) {
        guard let context else { return completion(.failure(.closed)) }
        var message = request
        var token: CoAPToken
        repeat {
            token = CoAPToken(value: UInt64.random(in: .min ... .max), length: 8)
        } while clientExchanges[CoAPTokenKey(peer: peer, token: token)] != nil
        message.token = token
        message.messageId = newMessageId()
        let exchange = CoAPClientExchange(key: CoAPTokenKey(peer: peer, token: token), completion: completion)
        clientExchanges[exchange.key] = exchange
        exchange.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.clientResponseTimeout.timeAmount) {
            [weak self, exchange] in
            self?.finishClientExchange(exchange, .failure(.timeout))
        }
        guard message.type == .confirmable else {
            send(message, to: peer)
            return
        }
        sendConfirmable(message, to: peer) { [weak self, exchange] outcome in
            switch outcome {
            case .acknowledged(let ack) where !ack.code.isEmpty:
                self?.finishClientExchange(exchange, .success(ack))
            case .acknowledged:
                break  // empty ACK: a separate response follows (§5.2.2)
            case .reset: self?.finishClientExchange(exchange, .failure(.reset))
            case .timedOut: self?.finishClientExchange(exchange, .failure(.timeout))
            case .queueFull: self?.finishClientExchange(exchange, .failure(.busy))
            case .closed: self?.finishClientExchange(exchange, .failure(.closed))
            }
        }
    }

    func finishClientExchange(_ exchange: CoAPClientExchange, _ result: Result<CoAPMessage, CoAPClientError>) {
        guard clientExchanges[exchange.key] === exchange else { return }
        clientExchanges[exchange.key] = nil
        exchange.timeout?.cancel()
        exchange.completion(result)
    }

    /// A response in a CON or NON of its own: a separate response to one of
    /// our requests (acknowledged, once per message id), or unknown (RST, §4.2/§4.3).
    func separateResponseArrived(_ message: CoAPMessage, from peer: SocketAddress) {
        let messageKey = CoAPMessageKey(peer: peer, messageId: message.messageId)
        if let entry = deduplication.lookup(messageKey) {
            statistics.duplicates += 1
            if case .answered(let bytes) = entry { write(bytes, to: peer) }
            return
        }
        let lifetime = message.type == .confirmable ? configuration.exchangeLifetime : configuration.nonLifetime
        deduplication.insert(messageKey, expires: .now() + lifetime.timeAmount)
        guard let exchange = clientExchanges[CoAPTokenKey(peer: peer, token: message.token)] else {
            let bytes = send(.empty(.reset, messageId: message.messageId), to: peer)
            deduplication.answered(messageKey, with: bytes)
            return
        }
        if message.type == .confirmable {
            deduplication.answered(messageKey, with: send(.empty(.acknowledgement, messageId: message.messageId), to: peer))
        }
        finishClientExchange(exchange, .success(message))
    }
}
