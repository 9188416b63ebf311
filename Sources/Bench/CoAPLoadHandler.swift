import CoAPCodec
import NIOCore
import ProcessorAPI
import Synchronization

/// One device's UDP socket in `bench coap`, on its event loop: CON POSTs
/// while the window has room, answers matched by message id (piggybacked)
/// or token (separate, RFC 7252 §5.2.2, which it acknowledges), and
/// retransmission with exponential back-off (§4.2).
final class CoAPLoadHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    /// The socket is connected to the server: datagrams without an address
    /// (no route lookup per datagram in the kernel).
    typealias OutboundOut = ByteBuffer

    struct Peer: Sendable {
        let device: Int
        let token: String
        let budget: LoadBudget
        let clock: LoadClock
        let interval: TimeAmount?
        let done: EventLoopPromise<LoadResult>
    }

    /// A CON waiting for its ACK, or (acknowledged empty) for its separate response.
    private struct Outstanding {
        var token: CoAPToken
        var datagram: ByteBuffer
        let sentAt: NIODeadline
        let seq: Int
        var timeout: TimeAmount
        var retryAt: NIODeadline
        var retransmissions = 0
    }

    private let options: CoAPLoadOptions
    private let peer: Peer
    private let counters: LoadCounters
    private let request: CoAPLoadRequest
    /// Each payload is rendered into this one array.
    private var body: [UInt8] = []
    /// The ACK time-out's random factor, without a system call per request.
    private var random = SplitMix64(seed: .random(in: .min ... .max))
    private var result = LoadResult()
    private var seq = 0
    private var messageId = UInt16.random(in: .min ... .max)
    private var tokenCounter = UInt32.random(in: .min ... .max)
    private var outstanding: [UInt16: Outstanding] = [:]
    /// Acknowledged with an empty ACK, the response to come separately: token → send time and sequence number.
    private var separate: [CoAPToken: (sentAt: NIODeadline, seq: Int)] = [:]
    private var exhausted = false
    private var finished = false
    private var pacer: SendPacer
    private var pumpScheduled = false
    private var timer: RepeatedTask?
    private var drainDeadline: NIODeadline?

    init(options: CoAPLoadOptions, peer: Peer) {
        self.options = options
        self.peer = peer
        self.counters = peer.clock.counters
        self.pacer = SendPacer(interval: peer.interval)
        self.request = CoAPLoadRequest(uriPath: ["api", "v1", peer.token, "telemetry"], contentFormat: 50)  // application/json
    }

    func channelActive(context: ChannelHandlerContext) {
        result.connected = 1
        peer.clock.connected()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // One timer per peer for retransmissions and the drain, not one per message.
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { _ in
            bound.value.0.tick(context: bound.value.1)
        }
        pacer.start()
        pump(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let message = try? CoAPMessage(decoding: envelope.data) else {
            result.errors += 1
            counters.errors.add(1, ordering: .relaxed)
            return
        }
        switch message.type {
        case .acknowledgement, .reset:
            guard let request = outstanding.removeValue(forKey: message.messageId) else { return }
            if message.type == .reset {
                refused("rst")
            } else if message.code.isEmpty {
                separate[request.token] = (request.sentAt, request.seq)
                return
            } else {
                answered(message.code, sent: (request.sentAt, request.seq))
            }
        case .confirmable, .nonConfirmable:
            if message.type == .confirmable {
                let ack = CoAPMessage.empty(.acknowledgement, messageId: message.messageId)
                context.writeAndFlush(wrapOutboundOut(ack.encoded()), promise: nil)
            }
            guard message.code.isResponse, let sent = separate.removeValue(forKey: message.token) else { return }
            answered(message.code, sent: sent)
        }
    }

    /// The window is refilled once per read, not per answer, so the new
    /// requests leave in one sendmmsg.
    func channelReadComplete(context: ChannelHandlerContext) {
        pump(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable and the like: counted, the socket stays.
        result.errors += 1
        counters.errors.add(1, ordering: .relaxed)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
    }

    private func pump(context: ChannelHandlerContext) {
        guard !finished, !exhausted else { return checkDrained() }
        var written = 0
        while outstanding.count + separate.count < options.window {
            if let wait = pacer.wait() {
                schedulePump(at: wait, context: context)
                break
            }
            guard peer.budget.take() else {
                exhausted = true
                drainDeadline = .now() + options.drain.timeAmount
                break
            }
            send(context: context)
            written += 1
        }
        if written > 0 { context.flush() }
        if exhausted { checkDrained() }
    }

    private func schedulePump(at deadline: NIODeadline, context: ChannelHandlerContext) {
        guard !pumpScheduled else { return }
        pumpScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: deadline) {
            bound.value.0.pumpScheduled = false
            bound.value.0.pump(context: bound.value.1)
        }
    }

    private func send(context: ChannelHandlerContext) {
        seq += 1
        messageId &+= 1
        tokenCounter &+= 1
        options.load.template.render(seq: seq, ts: EpochClock.nowMilliseconds(), device: peer.device, into: &body)
        let datagram = request.datagram(messageId: messageId, token: tokenCounter, payload: body, allocator: context.channel.allocator)
        // ACK_TIMEOUT × a random factor in [1, ACK_RANDOM_FACTOR] (RFC 7252 §4.2).
        let factor = Double.random(in: 1...1.5, using: &random)
        let timeout = TimeAmount.nanoseconds(Int64(Double(options.ackTimeout.timeAmount.nanoseconds) * factor))
        let now = NIODeadline.now()
        let token = CoAPToken(value: UInt64(tokenCounter), length: CoAPLoadRequest.tokenLength)
        outstanding[messageId] = Outstanding(token: token, datagram: datagram, sentAt: now, seq: seq, timeout: timeout, retryAt: now + timeout)
        context.write(wrapOutboundOut(datagram), promise: nil)
        result.sent += 1
        counters.sent.add(1, ordering: .relaxed)
    }

    /// Every 50 ms: CONs past their time-out go out again (timeout doubles),
    /// or give up after MAX_RETRANSMIT; the drain ends at its deadline.
    private func tick(context: ChannelHandlerContext) {
        guard !finished else { return }
        let now = NIODeadline.now()
        var resent = false
        for (id, request) in outstanding where request.retryAt <= now {
            if request.retransmissions >= options.maxRetransmit {
                // Given up (RFC 7252 §4.2): no answer, not a refusal.
                outstanding[id] = nil
                result.unanswered += 1
                counters.errors.add(1, ordering: .relaxed)
                continue
            }
            var again = request
            again.retransmissions += 1
            again.timeout = again.timeout * 2
            again.retryAt = now + again.timeout
            outstanding[id] = again
            result.retransmitted += 1
            context.write(wrapOutboundOut(request.datagram), promise: nil)
            resent = true
        }
        if resent { context.flush() }
        if let drainDeadline, now >= drainDeadline {
            finish()
        } else {
            pump(context: context)
        }
    }

    private func answered(_ code: CoAPCode, sent: (sentAt: NIODeadline, seq: Int)) {
        if code.isSuccess {
            result.acknowledged += 1
            counters.acknowledged.add(1, ordering: .relaxed)
            result.recordLatency(sentAt: sent.sentAt, now: .now(), window: peer.clock.window)
            if options.load.recordAcknowledged { result.acknowledgedSeqs[peer.token, default: []].append(sent.seq) }
        } else {
            refused(code.description)
        }
    }

    private func refused(_ reason: String) {
        result.refused[reason, default: 0] += 1
        counters.refused.add(1, ordering: .relaxed)
    }

    private func checkDrained() {
        if exhausted, outstanding.isEmpty, separate.isEmpty { finish() }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        result.unanswered += outstanding.count + separate.count
        outstanding.removeAll()
        separate.removeAll()
        peer.done.succeed(result)
    }
}
