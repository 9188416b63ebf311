import CoAPCodec
import NIOCore
import ProcessorAPI

extension CoAPEndpointHandler {
    /// A CON or NON request: duplicate detection (§4.5), critical options
    /// (§5.4.1), Observe deregistration (RFC 7641 §3.6), Block1 assembly,
    /// then the application.
    func requestArrived(_ message: CoAPMessage, from peer: SocketAddress) {
        guard firstSight(message, from: peer) else { return }
        statistics.requests += 1

        if message.unrecognizedCriticalOption != nil {
            return answerDirectly(message, from: peer, code: .badOption)
        }
        if message.code == .get, message.observe == 1,
            let observation = observations[CoAPTokenKey(peer: peer, token: message.token)]
        {
            endObservation(observation, .deregistered)
        }
        var request = message
        var echo: CoAPBlockOption?
        if let block = message.block1 {
            switch assembleBlock1(message, block: block, from: peer) {
            case .answered: return
            case .complete(let whole, let lastBlock):
                request = whole
                echo = lastBlock
            }
        } else if message.hasOption(.block1) {
            // A Block1 option with SZX 7 or over 3 bytes.
            return answerDirectly(message, from: peer, code: .badOption)
        }
        guard let requestHandler, let context, !draining else {
            return answerDirectly(message, from: peer, code: .serviceUnavailable, maxAge: 5)
        }
        let exchange = CoAPServerExchange(request: request, peer: peer, endpoint: self, eventLoop: context.eventLoop)
        exchange.block1Echo = echo
        if message.type == .confirmable { awaitingAnswer.append(exchange) }
        if configuration.responseTimeout != nil { openInOrder.append(exchange) }
        statistics.openExchanges += 1
        requestHandler.handleRequest(exchange)
    }

    /// Duplicate detection (§4.5): false for a message id already seen from
    /// this peer, which gets the same answer again (one still being worked
    /// on is answered once, later); true, and remembered, for a new one.
    func firstSight(_ message: CoAPMessage, from peer: SocketAddress) -> Bool {
        let key = CoAPMessageKey(peer: peer, messageId: message.messageId)
        let lifetime = message.type == .confirmable ? configuration.exchangeLifetime : configuration.nonLifetime
        guard let entry = deduplication.firstSight(key, expires: .now() + lifetime.timeAmount) else { return true }
        statistics.duplicates += 1
        if let bytes = entry.answer { write(bytes, to: peer) }
        return false
    }

    /// Answers a request without the application (errors, 2.31 Continue).
    func answerDirectly(
        _ request: CoAPMessage,
        from peer: SocketAddress,
        code: CoAPCode,
        size1: Int? = nil,
        maxAge: UInt32? = nil
    ) {
        var response = CoAPResponse(code: code)
        if let size1 { response.options.append(CoAPOption(.size1, uint: UInt32(size1))) }
        if let maxAge { response.options.append(CoAPOption(.maxAge, uint: maxAge)) }
        answerDirectly(request, from: peer, response: response)
    }

    func answerDirectly(_ request: CoAPMessage, from peer: SocketAddress, response: CoAPResponse) {
        let key = CoAPMessageKey(peer: peer, messageId: request.messageId)
        let confirmable = request.type == .confirmable
        let message = CoAPMessage(
            type: confirmable ? .acknowledgement : .nonConfirmable, code: response.code,
            messageId: confirmable ? request.messageId : newMessageId(), token: request.token,
            options: response.options, payload: response.payload)
        deduplication.answered(key, with: send(message, to: peer))
    }

    /// The application's answer: piggybacked on the ACK while the client
    /// still waits for one, else a separate CON (§5.2.2); a NON request
    /// gets a NON response (§5.2.3).
    func answer(_ exchange: CoAPServerExchange, _ response: CoAPResponse) {
        let request = exchange.request
        var message = CoAPMessage(
            type: .acknowledgement, code: response.code, messageId: request.messageId, token: request.token,
            options: response.options, payload: response.payload)
        if let echo = exchange.block1Echo { message.block1 = echo }
        if let observation = exchange.observation {
            if response.code.isSuccess {
                // RFC 7641 §4.1: a 2.xx with Observe confirms the registration; it replaces one with the same token.
                if let previous = observations[observation.key] { endObservation(previous, .deregistered) }
                observations[observation.key] = observation
                observation.activate()
                message.observe = observation.nextSequence()
                statistics.observations = observations.count
            }
        }
        if !applyBlock2(&message, requested: request.block2) {
            message = CoAPMessage(
                type: .acknowledgement, code: .badOption, messageId: request.messageId, token: request.token)
        }
        switch (request.type, exchange.state) {
        case (.confirmable, .pending):
            deduplication.answered(exchange.key, with: send(message, to: exchange.peer))
        case (.confirmable, _):
            statistics.separateResponses += 1
            message.type = .confirmable
            message.messageId = newMessageId()
            sendConfirmable(message, to: exchange.peer) { _ in }
        default:
            message.type = .nonConfirmable
            message.messageId = newMessageId()
            deduplication.answered(exchange.key, with: send(message, to: exchange.peer))
        }
        exchange.state = .answered
        statistics.openExchanges -= 1
    }

    /// The piggyback bound passed: an empty ACK stops the client's
    /// retransmissions; the response follows as a CON (§5.2.2).
    func sendEmptyAcknowledgement(_ exchange: CoAPServerExchange) {
        guard exchange.state == .pending else { return }
        exchange.state = .separate
        let bytes = send(.empty(.acknowledgement, messageId: exchange.request.messageId), to: exchange.peer)
        deduplication.answered(exchange.key, with: bytes)
    }

    // MARK: Observe (RFC 7641)

    func sendNotification(_ observation: CoAPObservation, _ response: CoAPResponse, confirmable: Bool?, delivered: (@Sendable () -> Void)? = nil) {
        observation.sinceConfirmable += 1
        let asConfirmable = confirmable ?? (observation.sinceConfirmable >= configuration.confirmableNotificationInterval)
        var message = CoAPMessage(
            type: asConfirmable ? .confirmable : .nonConfirmable, code: response.code, messageId: newMessageId(),
            token: observation.token, options: response.options, payload: response.payload)
        message.observe = observation.nextSequence()
        // A notification larger than a block carries block 0; the client fetches the rest (RFC 7959 §2.6).
        _ = applyBlock2(&message, requested: observation.request.block2.map { CoAPBlockOption(number: 0, more: false, sizeExponent: $0.sizeExponent) })
        if !response.code.isSuccess {
            // §3.2: a non-2.xx notification ends the observation.
            endObservation(observation, .cancelled)
        }
        if asConfirmable {
            observation.sinceConfirmable = 0
            let loopBound = NIOLoopBound(observation, eventLoop: observation.eventLoop)
            sendConfirmable(message, to: observation.peer) { [weak self] outcome in
                switch outcome {
                case .acknowledged: delivered?()
                case .reset: self?.endObservation(loopBound.value, .reset)
                case .timedOut, .queueFull, .closed: self?.endObservation(loopBound.value, .unreachable)
                }
            }
        } else {
            nonNotifications[CoAPMessageKey(peer: observation.peer, messageId: message.messageId)] = (observation.token, .now())
            send(message, to: observation.peer)
            delivered?()
        }
    }

    func resumeObservation(_ observation: CoAPObservation) -> Bool {
        guard context != nil, observations[observation.key] == nil else { return false }
        observations[observation.key] = observation
        statistics.observations = observations.count
        observation.sinceConfirmable = 0
        observation.activate()
        return true
    }

    func endObservation(_ observation: CoAPObservation, _ reason: CoAPObservation.EndReason) {
        if observations[observation.key] === observation {
            observations[observation.key] = nil
            statistics.observations = observations.count
        }
        observation.ended(reason)
    }
}
