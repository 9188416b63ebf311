import CoAPCodec
import NIOCore
import ProcessorAPI

/// Why a client request got no response.
package enum CoAPClientError: Error, Sendable, Equatable {
    /// No ACK after MAX_RETRANSMIT, or no separate/NON response in time.
    case timeout
    /// The server answered with RST.
    case reset
    /// Too many CONs already wait for this peer (NSTART).
    case busy
    case closed
    /// Replaced by a request with the same token (an active Observe cancellation).
    case cancelled
}

/// A request this endpoint sent as a client, waiting for its response.
final class CoAPClientExchange {
    let key: CoAPTokenKey
    let completion: (Result<CoAPMessage, CoAPClientError>) -> Void
    /// Set for an Observe registration (RFC 7641 §3.3): later notifications
    /// go here, a confirmable one with the acknowledgement its receiver gives.
    let onNotification: ((CoAPMessage, CoAPNotificationAcknowledgement?) -> Void)?
    /// The first response came and confirmed the observation.
    var established = false
    /// The request's message id, so a time-out can stop its retransmission.
    var messageKey: CoAPMessageKey?
    var timeout: Scheduled<Void>?

    init(
        key: CoAPTokenKey,
        completion: @escaping (Result<CoAPMessage, CoAPClientError>) -> Void,
        onNotification: ((CoAPMessage, CoAPNotificationAcknowledgement?) -> Void)? = nil
    ) {
        self.key = key
        self.completion = completion
        self.onNotification = onNotification
    }
}

extension CoAPEndpointHandler {
    /// Sends a request as a client (§5.2): a fresh token and message id; a
    /// CON is retransmitted until acknowledged; the response comes
    /// piggybacked or separately and is matched by (peer, token).
    func sendRequest(
        _ request: CoAPMessage,
        to peer: SocketAddress,
        token chosen: CoAPToken? = nil,
        timeout: Duration? = nil,
        onNotification: ((CoAPMessage, CoAPNotificationAcknowledgement?) -> Void)? = nil,
        completion: @escaping (Result<CoAPMessage, CoAPClientError>) -> Void
    ) {
        guard let context else { return completion(.failure(.closed)) }
        var message = request
        var token: CoAPToken
        if let chosen {
            // Re-using a token on purpose: an active Observe cancellation (RFC 7641 §3.6).
            token = chosen
            if let previous = clientExchanges[CoAPTokenKey(peer: peer, token: token)] {
                finishClientExchange(previous, .failure(.cancelled))
            }
        } else {
            repeat {
                token = CoAPToken(value: UInt64.random(in: .min ... .max), length: 8)
            } while clientExchanges[CoAPTokenKey(peer: peer, token: token)] != nil
        }
        message.token = token
        message.messageId = newMessageId()
        let exchange = CoAPClientExchange(key: CoAPTokenKey(peer: peer, token: token), completion: completion, onNotification: onNotification)
        clientExchanges[exchange.key] = exchange
        exchange.messageKey = CoAPMessageKey(peer: peer, messageId: message.messageId)
        exchange.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: (timeout ?? configuration.clientResponseTimeout).timeAmount) {
            [weak self, exchange] in
            guard let self else { return }
            // Nobody waits any more: stop retransmitting, which also frees the peer's NSTART slot.
            if let key = exchange.messageKey, let entry = self.outgoing[key] { self.finishConfirmable(entry, .timedOut) }
            self.finishClientExchange(exchange, .failure(.timeout))
        }
        guard message.type == .confirmable else {
            send(message, to: peer)
            return
        }
        sendConfirmable(message, to: peer) { [weak self, exchange] outcome in
            switch outcome {
            case .acknowledged(let ack) where !ack.code.isEmpty:
                self?.responseArrived(ack, for: exchange)
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
        if exchange.established {
            // An observation that ends: its last word goes to the notification handler.
            if case .success(let message) = result { exchange.onNotification?(message, nil) }
        } else {
            exchange.completion(result)
        }
    }

    /// A response for one of our requests. For an Observe registration a
    /// 2.xx with Observe establishes it and later ones are notifications;
    /// anything else ends the exchange (RFC 7641 §3.2).
    func responseArrived(
        _ message: CoAPMessage, for exchange: CoAPClientExchange, acknowledgement: CoAPNotificationAcknowledgement? = nil
    ) {
        guard exchange.onNotification != nil, message.code.isSuccess, message.observe != nil else {
            return finishClientExchange(exchange, .success(message))
        }
        if exchange.established {
            exchange.onNotification?(message, acknowledgement)
        } else {
            exchange.established = true
            exchange.timeout?.cancel()
            exchange.timeout = nil
            exchange.completion(.success(message))
        }
    }

    /// Forgets an observation; the next notification is answered with RST,
    /// which ends it at the server (RFC 7641 §3.6, passive cancellation).
    func forgetObservation(peer: SocketAddress, token: CoAPToken) {
        guard let exchange = clientExchanges[CoAPTokenKey(peer: peer, token: token)] else { return }
        clientExchanges[exchange.key] = nil
        exchange.timeout?.cancel()
    }

    /// A response in a CON or NON of its own: a separate response to one of
    /// our requests (acknowledged, once per message id), or unknown (RST, §4.2/§4.3).
    func separateResponseArrived(_ message: CoAPMessage, from peer: SocketAddress) {
        guard firstSight(message, from: peer) else { return }
        let messageKey = CoAPMessageKey(peer: peer, messageId: message.messageId)
        guard let exchange = clientExchanges[CoAPTokenKey(peer: peer, token: message.token)] else {
            let bytes = send(.empty(.reset, messageId: message.messageId), to: peer)
            deduplication.answered(messageKey, with: bytes)
            return
        }
        guard message.type == .confirmable else { return responseArrived(message, for: exchange) }
        if exchange.established, exchange.onNotification != nil, message.code.isSuccess, message.observe != nil, let context {
            // A confirmable notification is acknowledged once its receiver
            // has taken it (for LwM2M: once the sink accepted the values), so
            // a value that could not be forwarded is sent again by the
            // device (RFC 7252 §4.2) instead of being acknowledged and lost.
            // Retransmissions meanwhile find the message id in progress and
            // are not delivered twice (§4.5).
            let acknowledgement = CoAPNotificationAcknowledgement(
                handler: NIOLoopBound(self, eventLoop: context.eventLoop), peer: peer, messageId: message.messageId)
            return responseArrived(message, for: exchange, acknowledgement: acknowledgement)
        }
        acknowledge(message.messageId, from: peer)
        responseArrived(message, for: exchange)
    }

    /// The empty ACK of a confirmable response or notification, kept for
    /// its retransmissions (§4.5).
    func acknowledge(_ messageId: UInt16, from peer: SocketAddress) {
        deduplication.answered(CoAPMessageKey(peer: peer, messageId: messageId), with: send(.empty(.acknowledgement, messageId: messageId), to: peer))
    }

    /// The receiver could not take a confirmable notification: no ACK, and
    /// its message id is forgotten so the device's retransmission is
    /// delivered again.
    func forgetNotification(from peer: SocketAddress, messageId: UInt16) {
        deduplication.forget(CoAPMessageKey(peer: peer, messageId: messageId))
    }
}

/// The answer to one confirmable notification, given by whoever took its
/// value: `accepted` sends the ACK, `refused` leaves it unanswered so the
/// device retransmits it. Either may be called from any thread, once.
package final class CoAPNotificationAcknowledgement: Sendable {
    private let handler: NIOLoopBound<CoAPEndpointHandler>
    private let peer: SocketAddress
    private let messageId: UInt16

    init(handler: NIOLoopBound<CoAPEndpointHandler>, peer: SocketAddress, messageId: UInt16) {
        self.handler = handler
        self.peer = peer
        self.messageId = messageId
    }

    /// The endpoint's event loop, where the answer is written.
    package var eventLoop: any EventLoop { handler.eventLoop }

    package func accepted() {
        onEventLoop { [peer, messageId] in $0.acknowledge(messageId, from: peer) }
    }

    package func refused() {
        onEventLoop { [peer, messageId] in $0.forgetNotification(from: peer, messageId: messageId) }
    }

    private func onEventLoop(_ body: @escaping @Sendable (CoAPEndpointHandler) -> Void) {
        let handler = self.handler
        if handler.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            handler.eventLoop.execute { body(handler.value) }
        }
    }
}
