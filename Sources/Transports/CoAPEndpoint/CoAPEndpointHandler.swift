import CoAPCodec
import Logging
import NIOCore
import ProcessorAPI

/// Counters of one endpoint, for tests and diagnostics.
package struct CoAPEndpointStatistics: Sendable, Equatable {
    package var requests = 0
    package var duplicates = 0
    package var formatErrors = 0
    package var resets = 0
    package var retransmissions = 0
    package var separateResponses = 0
    package var observations = 0
    package var deduplicationEntries = 0
    /// Requests handed to the application and not answered yet.
    package var openExchanges = 0
}

/// The CoAP message layer (RFC 7252 §4) and the request/response layer
/// (§5) of one UDP socket, server and client at once. Everything runs on
/// the channel's event loop: no locks, no task per message. Responses are
/// written as they are ready and flushed once per read batch or per loop
/// turn, so NIO sends them with one sendmmsg.
final class CoAPEndpointHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let configuration: CoAPEndpointConfiguration
    let logger: Logger
    var requestHandler: (any CoAPRequestHandler)?
    var context: ChannelHandlerContext?
    var statistics = CoAPEndpointStatistics()

    // Server side.
    var deduplication: CoAPDeduplication
    /// CON requests in arrival order, for the piggyback bound.
    var awaitingAnswer = CircularBuffer<CoAPServerExchange>(initialCapacity: 256)
    /// Every open exchange in arrival order, for `responseTimeout`.
    var openInOrder = CircularBuffer<CoAPServerExchange>(initialCapacity: 256)
    var blockTransfers: [CoAPBlockTransfer.Key: CoAPBlockTransfer] = [:]
    /// Shared by the endpoints of one server (CoAPBlockSlots).
    let blockSlots: CoAPBlockSlots
    var observations: [CoAPTokenKey: CoAPObservation] = [:]
    /// NON notifications recently sent, so an RST to one ends its observation (RFC 7641 §3.6).
    var nonNotifications: [CoAPMessageKey: (token: CoAPToken, sent: NIODeadline)] = [:]

    // Outgoing confirmables (separate responses, CON notifications, client requests).
    var outgoing: [CoAPMessageKey: CoAPOutgoingConfirmable] = [:]
    var peers: [SocketAddress: CoAPPeerState] = [:]
    var clientExchanges: [CoAPTokenKey: CoAPClientExchange] = [:]

    var nextMessageId = UInt16.random(in: .min ... .max)
    /// Set on shutdown: new requests get 5.03 while the open ones are answered.
    var draining = false
    private var reading = false
    private var flushScheduled = false
    private var unflushed = false
    private var tick: RepeatedTask?
    private var ticks = 0

    init(configuration: CoAPEndpointConfiguration, blockSlots: CoAPBlockSlots, logger: Logger) {
        self.configuration = configuration
        self.blockSlots = blockSlots
        self.logger = logger
        self.deduplication = CoAPDeduplication(capacity: configuration.maxDeduplicationEntries)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // One timer for the piggyback bound and all expiries, not one per message.
        tick = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { [loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)] _ in
            loopBound.value.onTick()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tick?.cancel()
        tick = nil
        closeAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeAll()
        context.fireChannelInactive()
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let envelope = unwrapInboundIn(data)
        let peer = envelope.remoteAddress
        if envelope.data.readableBytes >= configuration.maxDatagramSize {
            return refuseOversize(envelope.data, from: peer)
        }
        // The datagram is a slice of the read's whole buffer (datagrams per
        // read × the largest datagram). Its options and payload are kept
        // until the sink answers, and a slice would keep that buffer from
        // being read into again: each read would then allocate (and fault
        // in) a new one, and the open exchanges would hold one apiece. A
        // copy of the few bytes the datagram has costs less.
        var datagram = context.channel.allocator.buffer(capacity: envelope.data.readableBytes)
        datagram.writeImmutableBuffer(envelope.data)
        let message: CoAPMessage
        do {
            message = try CoAPMessage(decoding: datagram)
        } catch {
            statistics.formatErrors += 1
            if error.deservesReset, let messageId = error.messageId {
                send(.empty(.reset, messageId: messageId), to: peer)
            }
            requestHandler?.rejectedDatagram(from: peer, error: error)
            return
        }
        switch (message.type, message.code) {
        case (.confirmable, .empty):
            // A "CoAP ping" (§4.3) is answered with RST.
            send(.empty(.reset, messageId: message.messageId), to: peer)
        case (.acknowledgement, _), (.reset, _):
            acknowledgementArrived(message, from: peer)
        case (_, let code) where code.isRequest:
            requestArrived(message, from: peer)
        case (_, let code) where code.isResponse:
            separateResponseArrived(message, from: peer)
        case (.confirmable, _):
            // A reserved code class: the message cannot be processed (§4.2).
            send(.empty(.reset, messageId: message.messageId), to: peer)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        flushNow()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An ICMP error for one peer must not end the socket for all others.
        logger.debug("CoAP socket error", metadata: ["error": "\(error)"])
    }

    /// A datagram that filled the read slot may have been cut off: a CON
    /// request gets 4.13 with Size1 (RFC 7959 §2.9.3) built from the header.
    private func refuseOversize(_ datagram: ByteBuffer, from peer: SocketAddress) {
        statistics.formatErrors += 1
        guard let first = datagram.getInteger(at: datagram.readerIndex, as: UInt8.self),
            let messageId = datagram.getInteger(at: datagram.readerIndex + 2, as: UInt16.self),
            first >> 6 == 1, first >> 4 & 0x3 == CoAPMessageType.confirmable.rawValue
        else { return }
        let tokenLength = Int(first & 0x0F)
        guard tokenLength <= 8, let token = datagram.getBytes(at: datagram.readerIndex + 4, length: tokenLength) else { return }
        var answer = CoAPMessage(type: .acknowledgement, code: .requestEntityTooLarge, messageId: messageId, token: CoAPToken(bytes: token))
        answer.size1 = UInt32(configuration.maxDatagramSize - 64)
        send(answer, to: peer)
    }

    // MARK: Writing

    func newMessageId() -> UInt16 {
        nextMessageId &+= 1
        return nextMessageId
    }

    /// Encodes and writes one message; returns the bytes (for replay).
    @discardableResult
    func send(_ message: CoAPMessage, to peer: SocketAddress) -> ByteBuffer {
        let bytes = message.encoded()
        write(bytes, to: peer)
        return bytes
    }

    func write(_ bytes: ByteBuffer, to peer: SocketAddress) {
        guard let context else { return }
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: peer, data: bytes)), promise: nil)
        unflushed = true
        // Inside a read batch, channelReadComplete flushes; otherwise once per loop turn.
        if !reading, !flushScheduled {
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                flushNow()
            }
        }
    }

    private func flushNow() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }

    // MARK: Timer

    private func onTick() {
        let now = NIODeadline.now()
        let piggyback = configuration.piggybackTimeout.timeAmount
        while let first = awaitingAnswer.first {
            if first.state != .pending {
                awaitingAnswer.removeFirst()
            } else if first.arrived + piggyback <= now {
                awaitingAnswer.removeFirst()
                sendEmptyAcknowledgement(first)
            } else {
                break
            }
        }
        if let timeout = configuration.responseTimeout?.timeAmount {
            while let first = openInOrder.first, first.state == .answered || first.arrived + timeout <= now {
                openInOrder.removeFirst()
                if first.state != .answered { requestHandler?.exchangeTimedOut(first) }
            }
        }
        deduplication.expire(now: now)
        ticks += 1
        if ticks % 20 == 0 {  // about once a second
            let lifetime = configuration.blockTransferLifetime.timeAmount
            expireTransfers(before: now - lifetime)
            let nonLifetime = configuration.nonLifetime.timeAmount
            nonNotifications = nonNotifications.filter { $0.value.sent + nonLifetime > now }
        }
    }

    private func closeAll() {
        expireTransfers(before: nil)
        for exchange in Array(clientExchanges.values) { finishClientExchange(exchange, .failure(.closed)) }
        for entry in Array(outgoing.values) { entry.retransmission?.cancel() }
        outgoing.removeAll()
        peers.removeAll()
        for observation in Array(observations.values) { endObservation(observation, .cancelled) }
    }
}
