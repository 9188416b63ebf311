import Auth
import Foundation
import Logging
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// A message from the broker that the sink has not taken yet.
struct BridgedMessage: Sendable {
    let topic: String
    let payload: [UInt8]
    /// An RPC reply was already handed to the waiting admin call (not again on a retry).
    var replyHanded = false
}

/// The MQTT bridge (issue 12): a client of an existing broker through
/// libmosquitto that takes routed topics into the processor like any
/// transport, and publishes downlink for the devices it bridges back there.
///
/// libmosquitto 2.0 acknowledges a QoS 1 message before the callback sees
/// it, so the broker's copy is gone the moment it is "in hand". The bridge
/// therefore holds at most MQTT_BRIDGE_MAX_IN_HAND such messages: at that
/// many, or when the sink fails, it disconnects (the broker keeps queuing
/// for the persistent session), retries what it holds until the sink takes
/// it, and connects again. A crash loses at most what is in hand.
package final class MQTTBridge: Service, Sendable {
    let configuration: MQTTBridgeConfiguration
    let registry: DeviceRegistry
    let ingest: any MessageIngest
    let deviceSessions: any DeviceSessionRegistry
    let metrics: GatewayMetrics
    let logger: Logger

    struct State {
        /// Received, not yet submitted (retries go to the front).
        var queue: [BridgedMessage] = []
        /// Received and not yet taken by the sink (queued or submitted).
        var inHand = 0
        /// The bridge left the broker on purpose.
        var paused = false
        /// The last verdict was a failure: intake stays paused.
        var failing = false
        var connected = false
        var stopping = false
        /// Messages of the current connection, and the tail of the one
        /// before: what the broker may send again after a reconnect.
        var seen = MQTTBridgeRedelivery()
    }

    let state = Mutex(State())
    let client = Mutex<MosquittoClient?>(nil)
    /// Wakes the worker; one pending wake is enough.
    let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Device names already resolved (nil: unknown or disabled), cleared when the registry changes.
    /// The registry's revision is read at most once a second, not once per message.
    let names = Mutex<(revision: Int64?, checked: ContinuousClock.Instant, devices: [String: DeviceIdentity?])>((nil, .now - .seconds(10), [:]))
    /// At most this many names are cached before the cache starts over.
    static let maximumCachedNames = 100_000
    /// Downlink sessions of the bridged devices, by device id.
    let sessions = Mutex<[String: UInt64]>([:])
    /// One warning per device name (or cause) a minute.
    let warnings = WarningThrottle()

    package init(
        configuration: MQTTBridgeConfiguration, registry: DeviceRegistry, ingest: any MessageIngest,
        deviceSessions: any DeviceSessionRegistry, metrics: GatewayMetrics, logger: Logger
    ) {
        self.configuration = configuration
        self.registry = registry
        self.ingest = ingest
        self.deviceSessions = deviceSessions
        self.metrics = metrics
        self.logger = logger
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    package func run() async throws {
        let client = try MosquittoClient(
            clientId: configuration.clientId, cleanSession: configuration.cleanSession,
            events: MosquittoEvents(
                connected: { [self] code in connected(code) },
                disconnected: { [self] code in disconnected(code) },
                message: { [self] mid, topic, payload in received(mid, topic, payload) }),
            logger: logger)
        try client.setCredentials(username: configuration.username, password: configuration.password)
        if configuration.tls {
            try client.setTLS(caFile: configuration.caFile, certificateFile: configuration.certificateFile, keyFile: configuration.keyFile)
        }
        self.client.withLock { $0 = client }
        logger.info(
            "MQTT bridge started",
            metadata: ["broker": "\(configuration.host):\(configuration.port)", "client_id": "\(configuration.clientId)"])
        var backoff = Duration.seconds(1)
        while let failed = client.connect(host: configuration.host, port: configuration.port, keepAlive: configuration.keepAlive) {
            logger.warning("MQTT bridge cannot reach the broker yet", metadata: ["error": "\(failed)", "retry_in": "\(backoff)"])
            let delay = backoff
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            backoff = min(backoff * 2, .seconds(30))
            if Task.isShuttingDownGracefully || Task.isCancelled {
                return await finish(client)
            }
        }
        try client.startLoop()

        await withGracefulShutdownHandler {
            for await _ in wakes {
                await drain()
                if state.withLock({ $0.stopping && $0.inHand == 0 }) { break }
            }
        } onGracefulShutdown: { [self] in
            // Stop taking messages; what is in hand still goes to the sink.
            // A message arriving in this instant may be sent again by the
            // broker next time (its PUBACK can follow this DISCONNECT).
            let connected = state.withLock { state -> Bool in
                state.stopping = true
                defer { state.paused = true }
                return !state.paused
            }
            if connected { client.pause() }
            wake.yield()
        }
        await finish(client)
    }

    /// After shutdown: wait a bounded time for what is in hand, then let go of the broker.
    private func finish(_ client: MosquittoClient) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while state.withLock({ $0.inHand > 0 }), ContinuousClock.now < deadline {
            await drain()
            try? await Task.sleep(for: .milliseconds(50))
        }
        let left = state.withLock { $0.inHand }
        if left > 0 { logger.error("MQTT bridge stopped with messages not in the sink", metadata: ["in_hand": "\(left)"]) }
        for (deviceId, registration) in sessions.withLock({ $0 }) {
            deviceSessions.unregister(deviceId: deviceId, registration: registration)
        }
        // mosquitto_loop_stop joins the network thread: not on the cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                client.close()
                done.resume()
            }.start()
        }
        metrics.bridgeConnected(false)
        logger.info("MQTT bridge stopped")
    }

    // MARK: libmosquitto's thread

    private func connected(_ code: Int32) {
        guard code == 0 else {
            return logger.warning("MQTT bridge connection refused by the broker", metadata: ["code": "\(code)"])
        }
        state.withLock { state in
            state.connected = true
            state.seen.newConnection()
        }
        metrics.bridgeConnected(true)
        for filter in configuration.routes.subscriptions {
            do {
                try client.withLock { $0 }?.subscribe(filter, qos: 1)
            } catch {
                logger.error("MQTT bridge subscribe failed", metadata: ["filter": "\(filter)", "error": "\(error)"])
            }
        }
        logger.info("MQTT bridge connected", metadata: ["subscriptions": "\(configuration.routes.subscriptions.joined(separator: " "))"])
    }

    private func disconnected(_ code: Int32) {
        let paused = state.withLock { state in
            state.connected = false
            return state.paused || state.stopping
        }
        metrics.bridgeConnected(false)
        if paused {
            logger.info("MQTT bridge disconnected on purpose")
        } else {
            logger.warning("MQTT bridge lost the broker; reconnecting", metadata: ["code": "\(code)"])
        }
    }

    /// PUBACK is already queued: from here the message is the bridge's to
    /// keep. The pause happens here, on libmosquitto's thread, so that no
    /// PUBACK of a later message goes out after the DISCONNECT is decided
    /// (one sent from another thread could overtake them, and the broker
    /// would send those messages again).
    private func received(_ mid: Int32, _ topic: String, _ payload: [UInt8]) {
        let (duplicate, pause) = state.withLock { state -> (Bool, Bool) in
            // A message taken in the last connection whose PUBACK the disconnect dropped.
            guard state.seen.isNew(mid: mid, topic: topic, payload: payload) else { return (true, false) }
            state.queue.append(BridgedMessage(topic: topic, payload: payload))
            state.inHand += 1
            guard state.inHand >= configuration.maxInHand || state.failing || state.stopping, !state.paused else { return (false, false) }
            state.paused = true
            return (false, true)
        }
        if duplicate {
            return logger.debug("MQTT bridge skipped a message the broker sent again", metadata: ["mid": "\(mid)", "topic": "\(topic)"])
        }
        wake.yield()
        if pause {
            let (failing, inHand) = state.withLock { ($0.failing, $0.inHand) }
            logger.info(
                failing ? "MQTT bridge paused: the sink does not take messages" : "MQTT bridge paused: in-hand window full",
                metadata: ["in_hand": "\(inHand)"])
            client.withLock { $0 }?.disconnectFromCallback()
        }
    }

    // MARK: Flow control

    /// The sink took a message.
    func taken() {
        let resume = state.withLock { state -> Bool in
            state.inHand -= 1
            state.failing = false
            return shouldResume(&state)
        }
        if resume { resumeIntake() }
    }

    /// The sink refused a message or the processor's queue is full: keep
    /// it and try it again shortly. The next message from the broker
    /// pauses the intake (see `received`).
    func retryLater(_ message: BridgedMessage, _ reason: DropReason) {
        let first = state.withLock { state -> Bool in
            state.queue.insert(message, at: 0)
            defer { state.failing = true }
            return !state.failing
        }
        if first {
            logger.warning("MQTT bridge: the sink does not take messages; retrying them", metadata: ["reason": "\(reason.rawValue)"])
        }
        wake.yield()
    }

    /// Connect again once the sink takes messages and half the window is free.
    private func shouldResume(_ state: inout State) -> Bool {
        guard state.paused, !state.failing, !state.stopping, state.inHand <= configuration.maxInHand / 2 else { return false }
        state.paused = false
        return true
    }

    private func resumeIntake() {
        logger.info("MQTT bridge resumed")
        client.withLock { $0 }?.resume()
    }
}
