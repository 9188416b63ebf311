import CoAPCodec
import NIOCore
import ProcessorAPI

/// How an outgoing CON ended.
enum CoAPConfirmableOutcome {
    /// The peer's ACK: empty, or with a piggybacked response.
    case acknowledged(CoAPMessage)
    case reset
    /// No ACK after MAX_RETRANSMIT retransmissions (§4.2).
    case timedOut
    /// More than `maxQueuedPerPeer` CONs waited for this peer.
    case queueFull
    case closed
}

/// A CON this endpoint sent and retransmits until it is acknowledged.
final class CoAPOutgoingConfirmable {
    let peer: SocketAddress
    let bytes: ByteBuffer
    let messageId: UInt16
    let onOutcome: (CoAPConfirmableOutcome) -> Void
    var transmissions = 0
    var timeout: TimeAmount = .zero
    var retransmission: Scheduled<Void>?

    init(peer: SocketAddress, bytes: ByteBuffer, messageId: UInt16, onOutcome: @escaping (CoAPConfirmableOutcome) -> Void) {
        self.peer = peer
        self.bytes = bytes
        self.messageId = messageId
        self.onOutcome = onOutcome
    }
}

/// NSTART bookkeeping for one peer (§4.7).
struct CoAPPeerState {
    var inFlight = 0
    var waiting = CircularBuffer<CoAPOutgoingConfirmable>()
}

extension CoAPEndpointHandler {
    /// Sends a CON with retransmission (§4.2): first timeout random in
    /// [ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR], doubled each time,
    /// MAX_RETRANSMIT times; at most NSTART outstanding per peer, the rest queued.
    func sendConfirmable(
        _ message: CoAPMessage,
        to peer: SocketAddress,
        onOutcome: @escaping (CoAPConfirmableOutcome) -> Void
    ) {
        let entry = CoAPOutgoingConfirmable(peer: peer, bytes: message.encoded(), messageId: message.messageId, onOutcome: onOutcome)
        var state = peers[peer] ?? CoAPPeerState()
        if state.inFlight < configuration.nstart {
            state.inFlight += 1
            peers[peer] = state
            transmit(entry)
        } else if state.waiting.count < configuration.maxQueuedPerPeer {
            state.waiting.append(entry)
            peers[peer] = state
        } else {
            onOutcome(.queueFull)
        }
    }

    private func transmit(_ entry: CoAPOutgoingConfirmable) {
        guard let context else { return entry.onOutcome(.closed) }
        let base = Double(configuration.ackTimeout.timeAmount.nanoseconds)
        entry.timeout = .nanoseconds(Int64(base * Double.random(in: 1...max(1, configuration.ackRandomFactor))))
        entry.transmissions = 1
        outgoing[CoAPMessageKey(peer: entry.peer, messageId: entry.messageId)] = entry
        write(entry.bytes, to: entry.peer)
        scheduleRetransmission(entry, context: context)
    }

    private func scheduleRetransmission(_ entry: CoAPOutgoingConfirmable, context: ChannelHandlerContext) {
        entry.retransmission = context.eventLoop.assumeIsolated().scheduleTask(in: entry.timeout) { [weak self, entry] in
            self?.retransmit(entry)
        }
    }

    private func retransmit(_ entry: CoAPOutgoingConfirmable) {
        let key = CoAPMessageKey(peer: entry.peer, messageId: entry.messageId)
        guard outgoing[key] === entry, let context else { return }
        guard entry.transmissions <= configuration.maxRetransmit else {
            return finishConfirmable(entry, .timedOut)
        }
        entry.transmissions += 1
        entry.timeout = entry.timeout * 2
        statistics.retransmissions += 1
        write(entry.bytes, to: entry.peer)
        scheduleRetransmission(entry, context: context)
    }

    func finishConfirmable(_ entry: CoAPOutgoingConfirmable, _ outcome: CoAPConfirmableOutcome) {
        let key = CoAPMessageKey(peer: entry.peer, messageId: entry.messageId)
        guard outgoing[key] === entry else { return }
        outgoing[key] = nil
        entry.retransmission?.cancel()
        if var state = peers[entry.peer] {
            if let next = state.waiting.popFirst() {
                peers[entry.peer] = state
                transmit(next)
            } else {
                state.inFlight -= 1
                peers[entry.peer] = state.inFlight > 0 ? state : nil
            }
        }
        entry.onOutcome(outcome)
    }

    /// An ACK or RST: ends the matching outgoing CON; an RST to a NON
    /// notification ends its observation (RFC 7641 §3.6).
    func acknowledgementArrived(_ message: CoAPMessage, from peer: SocketAddress) {
        let key = CoAPMessageKey(peer: peer, messageId: message.messageId)
        if message.type == .reset { statistics.resets += 1 }
        if let entry = outgoing[key] {
            finishConfirmable(entry, message.type == .reset ? .reset : .acknowledged(message))
        } else if message.type == .reset, let notification = nonNotifications.removeValue(forKey: key),
            let observation = observations[CoAPTokenKey(peer: peer, token: notification.token)]
        {
            endObservation(observation, .reset)
        }
    }
}
