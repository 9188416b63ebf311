import MQTTCodec
import NIOCore
import ProcessorAPI
import Synchronization

/// One device's connection in `bench mqtt`, on its event loop: CONNECT,
/// then PUBLISH while the window has room (QoS 1/2) or the socket is
/// writable (QoS 0), PUBREL on PUBREC, keep-alive pings, DISCONNECT at the end.
final class MQTTLoadHandler: ChannelInboundHandler {
    /// Bytes, framed here as the server does: the tool shares the machine
    /// with the gateway it measures, and `ByteToMessageHandler` copied its
    /// reads and boxed every answer.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = MQTTLoadWrite

    /// What a connection is given by the run (Sendable, so it can be built
    /// off the event loop and handed to the channel initializer).
    struct Connection: Sendable {
        let device: Int
        let token: String
        let budget: LoadBudget
        let clock: LoadClock
        let interval: TimeAmount?
        let established: EventLoopPromise<Void>
        let done: EventLoopPromise<LoadResult>
        /// Pings and the idle hold, for every connection on this loop.
        let timers: MQTTLoadLoopTimers
    }

    /// QoS 0 PUBLISHes written per turn of the event loop before yielding.
    private static let qos0Burst = 64

    private let options: MQTTLoadOptions
    private let connection: Connection
    private let counters: LoadCounters
    private var result = LoadResult()
    private var seq = 0
    /// Packet identifier → when the PUBLISH was written, and its sequence number.
    private var inFlight: [UInt16: (sentAt: NIODeadline, seq: Int)] = [:]
    private var lastPacketId: UInt16 = 0
    private var connectStart = NIODeadline.now()
    private var connackReceived = false
    private var establishedDone = false
    private var exhausted = false
    private var finished = false
    private var pacer: SendPacer
    private var pumpScheduled = false
    private var drainTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// The payload being rendered (reused for every message).
    private var payload: [UInt8] = []
    private var framer: MQTTPacketFramer

    init(options: MQTTLoadOptions, connection: Connection) {
        self.options = options
        self.framer = MQTTPacketFramer(maximumPacketSize: 1 << 20, version: options.version)
        self.connection = connection
        self.counters = connection.clock.counters
        self.pacer = SendPacer(interval: connection.interval)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        connectStart = .now()
        let connect = MQTTConnect(
            protocolVersion: options.version, clientIdentifier: "bench-\(connection.device)", cleanStart: true, keepAlive: options.keepAlive,
            username: connection.token)
        context.writeAndFlush(wrapOutboundOut(.packet(.connect(connect))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        do {
            while !finished, let packet = try framer.next(from: &buffer) {
                receive(packet, context: context)
            }
        } catch {
            errorCaught(context: context, error: error)
        }
    }

    private func receive(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        switch packet {
        case .connAck(let ack):
            connAck(ack, context: context)
        case .pubAck(let ack), .pubComp(let ack):
            guard let sent = inFlight.removeValue(forKey: ack.packetIdentifier) else { return }
            answered(ack.reasonCode, sent: sent, packet: "puback")
            pump(context: context)
        case .pubRec(let ack):
            // QoS 2 (MQTT 5.0 §4.3.3): a PUBREC below 0x80 asks for PUBREL; the
            // message is acknowledged at PUBCOMP. A failing PUBREC ends it.
            guard let sent = inFlight[ack.packetIdentifier] else { return }
            if ack.reasonCode.rawValue >= 0x80 {
                inFlight[ack.packetIdentifier] = nil
                answered(ack.reasonCode, sent: sent, packet: "pubrec")
                pump(context: context)
            } else {
                context.writeAndFlush(wrapOutboundOut(.packet(.pubRel(MQTTPublishAck(packetIdentifier: ack.packetIdentifier)))), promise: nil)
            }
        case .disconnect(let disconnect):
            result.refused["disconnect_\(hex(disconnect.reasonCode))", default: 0] += 1
            counters.refused.add(1, ordering: .relaxed)
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, options.qos == .atMostOnce { pump(context: context) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.errors += 1
        counters.errors.add(1, ordering: .relaxed)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A connect that failed never became active: the only call we get.
        finish(context: context)
    }

    private func connAck(_ ack: MQTTConnAck, context: ChannelHandlerContext) {
        guard !connackReceived else { return }
        connackReceived = true
        guard ack.reasonCode == .success else {
            // 3.1.1 return codes (§3.2.2.3) are reported as sent, not as their 5.0 equivalents.
            let code = options.version == .v311 ? MQTTReasonCode(rawValue: ack.reasonCode.connectReturnCode311) : ack.reasonCode
            result.refused["connack_\(hex(code))", default: 0] += 1
            counters.refused.add(1, ordering: .relaxed)
            established()
            context.close(promise: nil)
            return
        }
        result.connected = 1
        result.connect.record(microseconds: UInt64(max(0, (NIODeadline.now() - connectStart).nanoseconds / 1000)))
        connection.clock.connected()
        established()
        // Pings at the keep-alive; an idle connection is held until the run's deadline.
        connection.timers.add(self)
        if options.idle { return }
        pacer.start()
        pump(context: context)
    }

    /// Sends what the window, the pacing and the budget allow.
    private func pump(context: ChannelHandlerContext) {
        guard connackReceived, !finished, !exhausted else { return drainIfDone(context: context) }
        var written = 0
        var burst: ByteBuffer?
        while canSend(context: context, written: written) {
            if let wait = pacer.wait() {
                schedulePump(at: wait, context: context)
                break
            }
            guard connection.budget.take() else {
                exhausted = true
                break
            }
            if burst == nil { burst = context.channel.allocator.buffer(capacity: 160 * (options.qos == .atMostOnce ? Self.qos0Burst : 1)) }
            appendPublish(to: &burst!)
            written += 1
        }
        if let burst {
            // QoS 0 has no acknowledgement: written to the socket is all a
            // client knows. Writes complete in order, so the burst's last
            // write completing means all of it went out.
            var promise: EventLoopPromise<Void>?
            if options.qos == .atMostOnce {
                let done = context.eventLoop.makePromise(of: Void.self)
                let (counters, bound, count, lastSeq) = (counters, NIOLoopBound(self, eventLoop: context.eventLoop), written, seq)
                done.futureResult.whenSuccess {
                    let handler = bound.value
                    handler.result.acknowledged += count
                    counters.acknowledged.add(count, ordering: .relaxed)
                    if handler.options.load.recordAcknowledged {
                        handler.result.acknowledgedSeqs[handler.connection.token, default: []].append(contentsOf: (lastSeq - count + 1)...lastSeq)
                    }
                }
                promise = done
            }
            context.writeAndFlush(wrapOutboundOut(.encoded(burst)), promise: promise)
        }
        if exhausted { return drainIfDone(context: context) }
        // QoS 0 yields after a burst so other connections on the loop get a turn.
        if options.qos == .atMostOnce, written == Self.qos0Burst, context.channel.isWritable {
            schedulePump(at: nil, context: context)
        }
    }

    private func canSend(context: ChannelHandlerContext, written: Int) -> Bool {
        if options.qos == .atMostOnce { return written < Self.qos0Burst && context.channel.isWritable }
        return inFlight.count < options.window
    }

    private func schedulePump(at deadline: NIODeadline?, context: ChannelHandlerContext) {
        guard !pumpScheduled else { return }
        pumpScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let run: @Sendable () -> Void = {
            bound.value.0.pumpScheduled = false
            bound.value.0.pump(context: bound.value.1)
        }
        if let deadline {
            context.eventLoop.scheduleTask(deadline: deadline, run)
        } else {
            context.eventLoop.execute(run)
        }
    }

    /// Encodes the next PUBLISH into `burst`, its payload rendered into
    /// one reused array.
    private func appendPublish(to burst: inout ByteBuffer) {
        seq += 1
        options.load.template.render(seq: seq, ts: EpochClock.nowMilliseconds(), device: connection.device, into: &payload)
        var packetId: UInt16?
        if options.qos != .atMostOnce {
            repeat { lastPacketId = lastPacketId == .max ? 1 : lastPacketId + 1 } while inFlight[lastPacketId] != nil
            packetId = lastPacketId
            inFlight[lastPacketId] = (.now(), seq)
        }
        result.sent += 1
        counters.sent.add(1, ordering: .relaxed)
        do {
            try MQTTPublish.write(
                topic: options.topic, qos: options.qos, packetIdentifier: packetId, payload: payload, version: options.version, to: &burst)
        } catch {
            // `bench mqtt` checks the topic's length; a payload template past
            // what MQTT can carry is counted, not sent.
            result.refused["encode_\(error)", default: 0] += 1
            counters.refused.add(1, ordering: .relaxed)
        }
    }

    private func answered(_ code: MQTTReasonCode, sent: (sentAt: NIODeadline, seq: Int), packet: String) {
        if code.rawValue < 0x80 {
            result.acknowledged += 1
            counters.acknowledged.add(1, ordering: .relaxed)
            result.recordLatency(sentAt: sent.sentAt, now: .now(), window: connection.clock.window)
            if options.load.recordAcknowledged { result.acknowledgedSeqs[connection.token, default: []].append(sent.seq) }
        } else {
            result.refused["\(packet)_\(hex(code))", default: 0] += 1
            counters.refused.add(1, ordering: .relaxed)
        }
    }

    /// After the last send: disconnect once nothing is in flight, or after
    /// the drain time with what is still unanswered counted as such.
    private func drainIfDone(context: ChannelHandlerContext) {
        guard exhausted, !finished else { return }
        if inFlight.isEmpty { return disconnect(context: context) }
        guard drainTimer == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        drainTimer = context.eventLoop.scheduleTask(in: options.drain.timeAmount) {
            // Fired: nothing left to cancel.
            bound.value.0.drainTimer = nil
            bound.value.0.disconnect(context: bound.value.1)
        }
    }

    /// PINGREQ at the keep-alive (MQTTLoadLoopTimers calls).
    func sendPing() {
        context?.writeAndFlush(wrapOutboundOut(.packet(.pingReq)), promise: nil)
    }

    /// The idle hold is over (MQTTLoadLoopTimers calls).
    func endHold() {
        guard let context else { return }
        disconnect(context: context)
    }

    private func disconnect(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return finish(context: context) }
        // Closed once DISCONNECT is out: closing at once would discard what
        // is still queued before it (QoS 0 bursts).
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.packet(.disconnect(MQTTDisconnect()))), promise: written)
    }

    private func established() {
        guard !establishedDone else { return }
        establishedDone = true
        connection.established.succeed(())
    }

    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        if !connackReceived {
            result.errors += 1
            counters.errors.add(1, ordering: .relaxed)
        }
        result.unanswered += inFlight.count
        inFlight.removeAll()
        drainTimer?.cancel()
        drainTimer = nil
        connection.timers.remove(self)
        self.context = nil
        established()
        connection.done.succeed(result)
    }

    private func hex(_ code: MQTTReasonCode) -> String {
        "0x" + (code.rawValue < 16 ? "0" : "") + String(code.rawValue, radix: 16)
    }
}
