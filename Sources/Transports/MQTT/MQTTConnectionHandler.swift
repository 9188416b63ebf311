import Auth
import Logging
import MQTTCodec
import NIOCore
import ProcessorAPI
import Synchronization

/// One MQTT connection: CONNECT and authentication, then the ThingsBoard
/// device API. Runs entirely on the connection's event loop; the only hops
/// are the sink's verdicts (one `execute` per QoS 1/2 message) and the
/// registry look-ups of CONNECT and attribute requests.
final class MQTTConnectionHandler: ChannelInboundHandler {
    /// Bytes: packets are framed here (`MQTTPacketFramer`), not by a
    /// `ByteToMessageHandler` in front, which copied nearly every read.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = MQTTPacket

    enum State {
        case awaitingConnect
        case authenticating
        case connected
        case closed
    }

    /// Why a session ended: the `reason` of the disconnected event.
    enum EndReason: String {
        case normal
        case keepAliveTimeout = "keep_alive_timeout"
        case takeover
        case protocolError = "protocol_error"
        case serverShutdown = "server_shutdown"
        case connectionLost = "connection_lost"
        case refused
    }

    let shared: MQTTServerContext
    let encoder: MQTTPacketEncoder
    var framer: MQTTPacketFramer
    let connectionIdentifier: UInt64
    var state = State.awaitingConnect
    var version = MQTTProtocolVersion.v311
    var device: DeviceIdentity?
    var context: ChannelHandlerContext?
    var remoteAddress = "unknown"
    /// The IP address holding a pre-CONNECT slot, until CONNECT or close.
    var pendingAddress: String?
    /// Counted in `shared.established` (from CONNECT until close).
    var established = false
    var endReason = EndReason.connectionLost
    /// The registration in the gateway's DeviceSessions while connected.
    var downlinkRegistration: UInt64?

    // Keep-alive (MQTT-3.1.2-24: 1.5 × the client's value).
    var keepAlive: TimeAmount?
    var lastPacketAt = NIODeadline.now()
    /// A packet arrived since the sweeper last looked: it moves
    /// `lastPacketAt` to its own time, so no packet reads the clock.
    var packetSeen = false
    /// Until CONNECT is answered: when the socket is closed without one.
    var connectDeadline: NIODeadline?
    /// Checks `connectDeadline` and the keep-alive (no timer per connection).
    var sweeper: MQTTConnectionSweeper?

    // Flow control.
    /// QoS 1/2 messages handed to the processor and not yet answered.
    var inFlight = 0
    /// QoS 2 packet ids received and not yet released by PUBREL.
    var exactlyOnceReceived: Set<UInt16> = []
    /// QoS 2 packet ids handed to the sink and not yet answered (no PUBREC yet).
    var awaitingSink: Set<UInt16> = []
    /// Packets that arrived while reading is paused or authentication runs.
    var backlog = CircularBuffer<MQTTPacket>()
    var readingPaused = false
    var blocked = false
    /// The client closed its side (FIN) while packets it sent were held back.
    var inputClosed = false
    /// Set at server shutdown: close when nothing is in flight.
    var closingWhenIdle = false
    /// A flush is scheduled for acknowledgements written without one.
    var flushScheduled = false
    /// The socket takes writes (below its high water mark). While it does
    /// not, packets read are held and reading stops: a device that does not
    /// read its answers stops being read from (TCP then pushes back on it).
    var writable = true
    /// Attribute requests whose registry call has not come back.
    var registryCallsInFlight = 0
    /// A PUBLISH's client attributes are being stored; what is read after
    /// it waits, so that acknowledgements keep their order (MQTT-4.6.0-2).
    var storingAttributes = false
    /// At most this many registry calls of one connection run at once;
    /// packets after them wait in the backlog (no task per message without
    /// bound).
    static let maximumRegistryCallsInFlight = 8
    /// Bytes queued for a socket that does not read, past which the
    /// connection is closed instead of buffering more downlink.
    static let maximumBufferedBytes = 1 << 20

    /// The client's Maximum Packet Size (MQTT 5.0 §3.1.2.11.4): nothing
    /// larger is sent to it (MQTT-3.1.2-24/25). Unset: what four bytes of
    /// Remaining Length allow.
    var clientMaximumPacketSize = mqttMaximumRemainingLength + 5
    var topicAliases: [UInt16: String] = [:]
    var subscriptions: [String: MQTTQoS] = [:]
    var nextOutboundIdentifier: UInt16 = 1
    /// Server-side RPC requests published at QoS 1 whose PUBACK is awaited, by packet identifier.
    var rpcAwaitingAck: [UInt16: Int] = [:]

    init(shared: MQTTServerContext, encoder: MQTTPacketEncoder) {
        self.shared = shared
        self.encoder = encoder
        self.framer = MQTTPacketFramer(maximumPacketSize: shared.configuration.maximumPacketSize)
        self.connectionIdentifier = shared.sessions.makeConnectionIdentifier()
    }

    var logger: Logger { shared.logger }
    var metrics: GatewayMetrics { shared.metrics }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        remoteAddress = context.channel.remoteAddress?.description ?? "unknown"
        // A socket that never sends CONNECT is closed (MQTT-3.1.4: the
        // server may close a connection that does not CONNECT in time).
        connectDeadline = .now() + shared.configuration.connectTimeout.timeAmount
        let sweeper = shared.sweepers.sweeper(for: context.eventLoop)
        sweeper.add(self)
        self.sweeper = sweeper
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leaveSweeper()
    }

    /// No more deadline checks for this connection (idempotent).
    private func leaveSweeper() {
        sweeper?.remove(self)
        sweeper = nil
    }

    /// Whether the CONNECT deadline or the keep-alive has passed (the
    /// sweeper asks every `MQTTConnectionSweeper.period`). The last packet's
    /// time is known to within that period, so a silent client is closed
    /// at most one period after 1.5 × its keep-alive, never before.
    func deadlinePassed(now: NIODeadline) -> Bool {
        if packetSeen {
            packetSeen = false
            lastPacketAt = now
        }
        switch state {
        case .awaitingConnect, .authenticating:
            return connectDeadline.map { now > $0 } ?? false
        case .connected:
            return keepAlive.map { now - lastPacketAt > $0 } ?? false
        case .closed:
            return false
        }
    }

    /// Closes the connection whose deadline passed.
    func deadlineExpired() {
        // Once is enough, however long the close takes.
        leaveSweeper()
        switch state {
        case .awaitingConnect, .authenticating:
            metrics.connectionRefused(TransportKind.mqtt.rawValue, .connectTimeout)
            if shared.warnings.shouldWarn(remoteIP) {
                logger.info("MQTT connection closed: no CONNECT in time", metadata: ["remote_address": "\(remoteAddress)"])
            }
            close()
        case .connected:
            logger.info("MQTT keep-alive expired", metadata: ["device_id": "\(device?.id ?? "")"])
            endReason = .keepAliveTimeout
            disconnect(.keepAliveTimeout)
        case .closed:
            break
        }
    }

    /// The peer's IP address without the port: the key of per-address limits.
    var remoteIP: String { context?.channel.remoteAddress?.ipAddress ?? "unknown" }

    func channelActive(context: ChannelHandlerContext) {
        let address = remoteIP
        if let refusal = shared.pending.admit(address) {
            // Before CONNECT there is nothing to answer with (MQTT-3.1.4):
            // closed at once, counted, logged once a minute per address.
            metrics.connectionRefused(TransportKind.mqtt.rawValue, refusal == .full ? .maxPending : .perAddress)
            if shared.warnings.shouldWarn(address) {
                logger.warning(
                    "MQTT socket refused before CONNECT",
                    metadata: ["remote_address": "\(remoteAddress)",
                               "limit": "\(refusal == .full ? "MQTT_MAX_PENDING_CONNECTIONS" : "MQTT_MAX_PENDING_PER_ADDRESS")"])
            }
            leaveSweeper()
            state = .closed
            context.close(promise: nil)
            return
        }
        pendingAddress = address
        context.fireChannelActive()
    }

    /// Gives the pre-CONNECT slot back (idempotent).
    func releasePending() {
        guard let address = pendingAddress else { return }
        pendingAddress = nil
        shared.pending.release(address)
    }

    func channelInactive(context: ChannelHandlerContext) {
        releasePending()
        if established {
            established = false
            _ = shared.established.wrappingSubtract(1, ordering: .relaxed)
        }
        leaveSweeper()
        let wasConnected = state == .connected
        state = .closed
        if wasConnected, let device {
            if let downlinkRegistration {
                shared.deviceSessions.unregister(deviceId: device.id, registration: downlinkRegistration)
            }
            let live = shared.sessions.unregister(device: device.id, connection: connectionIdentifier)
            metrics.devicesConnected(.mqtt, live)
            logger.info(
                "MQTT device disconnected",
                metadata: ["device_id": "\(device.id)", "transport": "mqtt", "reason": "\(endReason.rawValue)"])
            submitConnectivityEvent(#"{"event":"disconnected","reason":"\#(endReason.rawValue)"}"#)
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        do {
            while state != .closed, let packet = try framer.next(from: &buffer) {
                receive(packet)
            }
        } catch {
            codecFailed(error)
        }
    }

    private func receive(_ packet: MQTTPacket) {
        packetSeen = true
        switch state {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else { return protocolError("expected CONNECT") }
            handleConnect(connect)
        case .authenticating:
            // Held until the look-up answers; reading stops once a Receive
            // Maximum of them waits, so the backlog stays bounded.
            backlog.append(packet)
            if backlog.count >= shared.configuration.receiveMaximum, !readingPaused, let context {
                readingPaused = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
        case .connected:
            if mustHold || !backlog.isEmpty {
                backlog.append(packet)
            } else {
                handle(packet)
                updateReading()
            }
        case .closed:
            break
        }
    }

    /// With half-closure allowed, a client's FIN arrives here instead of
    /// closing the channel at once: what it sent before, read but held back
    /// (queue full, or waiting for authentication), is still handled, and
    /// the connection closes after the last of it. Closing at once dropped
    /// those messages, QoS 0 ones included, though the client had sent them
    /// and a DISCONNECT after them.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            return context.fireUserInboundEventTriggered(event)
        }
        inputClosed = true
        if backlog.isEmpty, state != .authenticating, !storingAttributes { close() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("MQTT connection error", metadata: ["remote_address": "\(remoteAddress)", "error": "\(error)"])
        close()
    }

    /// Bytes that are not a valid packet: answered (DISCONNECT with the
    /// reason on 5.0), counted and closed.
    private func codecFailed(_ codecError: MQTTCodecError) {
        metrics.error(.transport)
        if case .packetTooLarge = codecError { metrics.dropped(.payloadTooLarge) }
        logger.warning(
            "MQTT protocol error; closing the connection",
            metadata: ["remote_address": "\(remoteAddress)", "error": "\(codecError)", "transport": "mqtt"])
        endReason = .protocolError
        if case .unsupportedProtocol = codecError, state == .awaitingConnect {
            // MQTT-3.1.2-2: CONNACK 0x01 (3.1.1's table; 0x84 is its 5.0
            // name), then close. The level is not one we speak, so the
            // answer is in 3.1.1's format, which every level can read.
            send(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: .unsupportedProtocolVersion)))
            return close()
        }
        disconnect(codecError.reasonCode)
    }

    // MARK: Writing and closing

    func send(_ packet: MQTTPacket, flush: Bool = true) {
        guard let context, state != .closed else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(packet), promise: nil)
        } else {
            context.write(wrapOutboundOut(packet), promise: nil)
        }
    }

    /// Writes an acknowledgement and flushes once after the current batch of
    /// verdicts, not once per acknowledgement (hot path step 5).
    func sendCoalesced(_ packet: MQTTPacket) {
        guard let context, state != .closed else { return }
        context.write(wrapOutboundOut(packet), promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = bound.value
            handler.flushScheduled = false
            handler.context?.flush()
        }
    }

    /// Closes the connection, telling a 5.0 client why (MQTT 5.0 §4.13).
    func disconnect(_ reason: MQTTReasonCode) {
        if version == .v5, state == .connected || state == .awaitingConnect {
            send(.disconnect(MQTTDisconnect(reasonCode: reason)))
        }
        close()
    }

    func close() {
        guard let context, state != .closed else { return }
        if state != .connected { state = .closed }
        context.close(promise: nil)
    }

    func protocolError(_ what: String) {
        logger.warning("MQTT protocol violation", metadata: ["remote_address": "\(remoteAddress)", "error": "\(what)"])
        metrics.error(.transport)
        endReason = .protocolError
        disconnect(.protocolError)
    }

    // MARK: Backpressure

    /// Reading stops while the processor refuses (queue full), while the
    /// connection has `receiveMaximum` messages waiting for the sink, or
    /// while held-back packets wait; it resumes when none of these holds.
    func updateReading() {
        guard let context, state == .connected else { return }
        let pause = mustHold || !backlog.isEmpty || inFlight >= shared.configuration.receiveMaximum
        guard pause != readingPaused else { return }
        readingPaused = pause
        context.channel.setOption(ChannelOptions.autoRead, value: !pause).whenComplete { _ in }
        if !pause { context.read() }
    }

    /// Packets read are held, not handled, while this holds: the processor
    /// refused one (queue full), the socket does not take writes, or the
    /// connection's registry calls are all out.
    var mustHold: Bool {
        blocked || storingAttributes || !writable || registryCallsInFlight >= Self.maximumRegistryCallsInFlight
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { drainBacklog() } else { updateReading() }
        context.fireChannelWritabilityChanged()
    }

    /// Works through packets held back, in order, until one is refused again.
    func drainBacklog() {
        while state == .connected, !mustHold, let packet = backlog.popFirst() {
            handle(packet)
        }
        if inputClosed, backlog.isEmpty, !storingAttributes { return close() }
        updateReading()
    }

    /// The processor refused `packet` for now: keep it first in line and try
    /// again shortly, without reading more from the socket meanwhile.
    func holdBack(_ packet: MQTTPacket) {
        backlog.prepend(packet)
        blocked = true
        updateReading()
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(10)) {
            let handler = bound.value
            guard !handler.closingWhenIdle else { return }
            handler.blocked = false
            handler.drainBacklog()
        }
    }
}
