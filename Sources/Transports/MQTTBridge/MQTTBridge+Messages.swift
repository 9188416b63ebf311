import Auth
import Logging
import NIOCore
import ProcessorAPI
import Synchronization

extension MQTTBridge {
    /// Hands every queued message on; after a failure, waits a second first.
    func drain() async {
        if state.withLock({ $0.failing }) { try? await Task.sleep(for: .seconds(1)) }
        while let message = state.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) {
            await process(message)
        }
    }

    /// Route, device, payload, then the processor. What cannot be
    /// forwarded (no route, unknown device, invalid payload) is counted and
    /// let go: there is no one to answer on the broker.
    func process(_ message: BridgedMessage) async {
        guard let (kind, name, id, route) = configuration.routes.route(message.topic) else {
            metrics.dropped(.unrouted)
            logger.debug("MQTT bridge message on an unrouted topic", metadata: ["topic": "\(message.topic)"])
            return taken()
        }
        // Checked before the registry is asked (or a device created): a
        // name the route does not take costs nothing.
        guard route.allows(name: name) else { return notAllowed(name, message) }
        guard let device = await resolve(name) else {
            metrics.authFailed(.mqttBridge)
            logger.debug("MQTT bridge message for an unknown or disabled device", metadata: ["device": "\(name)", "topic": "\(message.topic)"])
            return taken()
        }
        guard route.allows(type: device.type) else { return notAllowed(name, message) }
        metrics.messageReceived(.mqttBridge)
        let receivedAt = EpochClock.nowMilliseconds()
        let payload = ByteBuffer(bytes: message.payload)
        var entries: [TelemetryEntry]
        var next = message
        do {
            switch kind {
            case .attributes:
                let update = try ThingsBoardPayload.parseAttributes(payload, receivedAt: receivedAt)
                // Client attributes are stored like the other transports store them; a retry stores them again.
                do {
                    try await registry.setAttributes(deviceId: device.id, scope: .client, update.values)
                } catch .quotaExceeded(let reason) {
                    metrics.dropped(.quotaExceeded)
                    logger.warning("MQTT bridge device over its client-attribute quota", metadata: ["device": "\(name)", "reason": "\(reason)"])
                    return taken()
                } catch {
                    metrics.error(.registry)
                    return retryLater(message, .sinkError)
                }
                entries = [update.entry]
            case .rpcResponse:
                guard let id, let values = ThingsBoardPayload.rpcEnvelope(id: id, payload: payload) else { throw PayloadError.notAnObject("RPC payload") }
                if !message.replyHanded {
                    deviceSessions.rpcReplied(deviceId: device.id, id: id, payload: String(buffer: payload))
                    next.replyHanded = true
                }
                entries = [TelemetryEntry(ts: receivedAt, values: values)]
            default:
                entries = try ThingsBoardPayload.parseTelemetry(payload, receivedAt: receivedAt)
            }
        } catch {
            metrics.dropped(.invalidPayload)
            logger.debug("MQTT bridge message with an invalid payload", metadata: ["topic": "\(message.topic)", "error": "\(error)"])
            return taken()
        }
        let completion = MQTTBridgeCompletion(bridge: self, message: next)
        let gatewayMessage = GatewayMessage(
            device: device, kind: kind, transport: .mqttBridge, receivedAt: receivedAt, entries: entries, completion: completion)
        if case .refused(let reason) = ingest.offer(gatewayMessage) {
            retryLater(next, reason)
        }
    }

    /// A topic naming a device its route does not take: counted, let go.
    private func notAllowed(_ name: String, _ message: BridgedMessage) {
        metrics.dropped(.notAllowed)
        if warnings.shouldWarn(name) {
            logger.warning("MQTT bridge message for a device its route does not allow", metadata: ["device": "\(name)", "topic": "\(message.topic)"])
        }
        taken()
    }

    /// The registry's device of that name, if it is there and enabled (or
    /// was just provisioned with MQTT_BRIDGE_CREATE_DEVICES). Its first
    /// sight registers its downlink session.
    func resolve(_ name: String) async -> DeviceIdentity? {
        let due = names.withLock { names -> Bool in
            guard ContinuousClock.now - names.checked >= .seconds(1) else { return false }
            names.checked = .now
            return true
        }
        if due, let revision = try? await registry.revision() {
            names.withLock { names in
                if names.revision != revision { (names.revision, names.devices) = (revision, [:]) }
            }
        }
        let cached = names.withLock { $0.devices[name] }
        if let cached { return cached }
        var device = try? await registry.device(named: name)
        if device == nil, configuration.createDevices {
            device = await create(name)
        }
        let identity = device.flatMap { $0.enabled ? $0.identity : nil }
        names.withLock { names in
            // Names come from whoever publishes; unknown ones are cached
            // too, so the cache starts over rather than grow without bound.
            if names.devices.count >= Self.maximumCachedNames { names.devices = [:] }
            names.devices[name] = .some(identity)
        }
        if let identity { registerSession(identity) }
        return identity
    }

    /// MQTT_BRIDGE_CREATE_DEVICES: provisions the name, unless the registry
    /// already holds MQTT_BRIDGE_MAX_CREATED_DEVICES devices of the bridge's
    /// type (counted in the registry, so the cap holds across restarts).
    private func create(_ name: String) async -> Device? {
        guard let count = try? await registry.deviceCount(type: configuration.deviceType) else { return nil }
        guard count < configuration.maxCreatedDevices else {
            metrics.dropped(.quotaExceeded)
            if warnings.shouldWarn("created-devices") {
                logger.warning(
                    "MQTT bridge refused to provision a device: MQTT_BRIDGE_MAX_CREATED_DEVICES reached",
                    metadata: ["device": "\(name)", "type": "\(configuration.deviceType)", "limit": "\(configuration.maxCreatedDevices)"])
            }
            return nil
        }
        if let device = try? await registry.createDevice(name: name, type: configuration.deviceType).device {
            logger.info("MQTT bridge provisioned a device on first sight", metadata: ["device": "\(name)"])
            return device
        }
        // Another instance may have created it at the same moment.
        return try? await registry.device(named: name)
    }

    private func registerSession(_ device: DeviceIdentity) {
        guard configuration.routes.attributes != nil || configuration.routes.rpcRequest != nil else { return }
        let session = MQTTBridgeSession(deviceName: device.name, routes: configuration.routes) { [self] topic, payload in
            do {
                try client.withLock { $0 }?.publish(topic, Array(payload.utf8), qos: 1)
            } catch {
                logger.warning("MQTT bridge could not publish downlink", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
        let count = sessions.withLock { sessions -> Int? in
            guard sessions[device.id] == nil else { return nil }
            sessions[device.id] = deviceSessions.register(deviceId: device.id, session: session)
            return sessions.count
        }
        guard let count else { return }
        metrics.devicesConnected(.mqttBridge, count)
        deviceSessions.rpcReady(deviceId: device.id)
    }
}

/// The sink's verdict on a bridged message: taken, or kept for a retry.
final class MQTTBridgeCompletion: DeliveryCompletion {
    private let bridge: MQTTBridge
    private let message: BridgedMessage

    init(bridge: MQTTBridge, message: BridgedMessage) {
        self.bridge = bridge
        self.message = message
    }

    func complete(_ outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered: bridge.taken()
        case .failed(let reason): bridge.retryLater(message, reason)
        }
    }
}
