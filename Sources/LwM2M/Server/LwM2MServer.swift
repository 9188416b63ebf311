import Auth
import CoAPCodec
import CoAPEndpoint
import Logging
import NIOCore
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// The LwM2M server role (OMA LwM2M Core 1.0/1.1) on LWM2M_BIND_PORT: the
/// registration interface, device management operations sent to registered
/// clients, and observations whose notifications become telemetry. A
/// Service of the gateway's group; its operations are what the admin API
/// calls for server pull.
package final class LwM2MServer: Service, Sendable {
    package let configuration: LwM2MServerConfiguration
    let registry: DeviceRegistry
    package let models: LwM2MModelRegistry
    let profiles: LwM2MProfiles
    let ingest: any MessageIngest
    /// Where a registration that maps shared attributes becomes a downlink session.
    let deviceSessions: (any DeviceSessionRegistry)?
    private let downlinkRegistrations = Mutex<[String: UInt64]>([:])
    let metrics: GatewayMetrics
    let logger: Logger
    /// Wrong endpoint names per address, shared with the token look-ups of
    /// the other transports (AUTH_FAILURES_PER_ADDRESS).
    let failures: AuthFailureThrottle
    /// Register look-ups under way: a flood of Registers from one address
    /// (or many) cannot start unbounded registry calls or take the slots of
    /// the devices registering meanwhile.
    let pendingRegisters = ConnectionAdmission(total: 256, perAddress: 8)
    let warnings = WarningThrottle()
    package let registrations = LwM2MRegistrations()
    private let endpoint = Mutex<CoAPEndpoint?>(nil)
    /// Observations this server holds, by device id: path → token, so a new
    /// registration can drop them and set them up again.
    private let observations = Mutex<[String: [LwM2MPath: CoAPToken]]>([:])
    private let onListening: @Sendable (Int) -> Void
    /// Devices whose queued operations are being sent now.
    private let delivering = Mutex<Set<String>>([])

    package init(
        configuration: LwM2MServerConfiguration,
        registry: DeviceRegistry,
        models: LwM2MModelRegistry,
        profiles: LwM2MProfiles = LwM2MProfiles(),
        ingest: any MessageIngest,
        deviceSessions: (any DeviceSessionRegistry)? = nil,
        metrics: GatewayMetrics,
        logger: Logger,
        failures: AuthFailureThrottle = AuthFailureThrottle(),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.failures = failures
        self.configuration = configuration
        self.registry = registry
        self.models = models
        self.profiles = profiles
        self.ingest = ingest
        self.deviceSessions = deviceSessions
        self.metrics = metrics
        self.logger = logger
        self.onListening = onListening
    }

    package func run() async throws {
        let bound = try await CoAPEndpoint.bind(configuration: configuration.endpoint, logger: logger) { [self] in
            LwM2MServerHandler(server: self)
        }
        endpoint.withLock { $0 = bound }
        let port = bound.localAddress?.port ?? configuration.endpoint.port
        logger.info(
            "LwM2M server listening",
            metadata: ["address": "\(configuration.endpoint.host)", "port": "\(port)", "transport": "lwm2m", "objects": "\(models.count)"])
        onListening(port)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    for registration in registrations.expire(now: .now) { ended(registration, event: "expired") }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await bound.drain(timeout: .seconds(2))
        await bound.close()
        logger.info("LwM2M server stopped")
    }

    var currentEndpoint: CoAPEndpoint? { endpoint.withLock { $0 } }

    func startDelivering(_ deviceId: String) -> Bool {
        delivering.withLock { $0.insert(deviceId).inserted }
    }

    func stopDelivering(_ deviceId: String) {
        _ = delivering.withLock { $0.remove(deviceId) }
    }

    func rememberObservation(deviceId: String, path: LwM2MPath, token: CoAPToken?) {
        observations.withLock { state in
            if let token { state[deviceId, default: [:]][path] = token } else { state[deviceId]?[path] = nil }
        }
    }

    func observationToken(deviceId: String, path: LwM2MPath) -> CoAPToken? {
        observations.withLock { $0[deviceId]?[path] }
    }

    static func newRegistrationId() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<10).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    /// Lifetime plus a grace period, at most the lifetime itself, so short
    /// lifetimes are not stretched by much.
    func expiry(lifetime: Int) -> ContinuousClock.Instant {
        .now + .seconds(lifetime) + min(configuration.registrationGrace, .seconds(lifetime))
    }

    // MARK: Registration events

    func registered(_ registration: LwM2MRegistration) {
        if let previous = registrations.insert(registration) {
            logger.info("LwM2M client registered again; the old registration ends", metadata: ["endpoint": "\(previous.endpoint)"])
        }
        metrics.devicesConnected(.lwm2m, registrations.count)
        logger.info(
            "LwM2M client registered",
            metadata: [
                "endpoint": "\(registration.endpoint)", "device_id": "\(registration.device.id)", "location": "/rd/\(registration.id)",
                "lifetime": "\(registration.lifetime)", "binding": "\(registration.binding)", "lwm2m": "\(registration.version)",
                "transport": "lwm2m",
            ])
        event(registration, "registered")
        deliverQueued(deviceId: registration.device.id)
        let mapping = profiles.profile(deviceType: registration.device.type).sharedAttributes ?? [:]
        if let deviceSessions, !mapping.isEmpty {
            let session = LwM2MDeviceSession(server: self, deviceId: registration.device.id, mapping: mapping)
            let id = deviceSessions.register(deviceId: registration.device.id, session: session)
            let replaced = downlinkRegistrations.withLock { $0.updateValue(id, forKey: registration.device.id) }
            if let replaced { deviceSessions.unregister(deviceId: registration.device.id, registration: replaced) }
        }
        // Observations of an earlier registration are gone with it: set them up again, and the profile's.
        let previous = observations.withLock { $0.removeValue(forKey: registration.device.id) } ?? [:]
        let profile = profiles.profile(deviceType: registration.device.type)
        var paths = Set(previous.keys)
        for text in profile.observe ?? [] { if let path = LwM2MPath(text) { paths.insert(path) } }
        guard !paths.isEmpty else { return }
        let deviceId = registration.device.id
        Task { [self] in
            for (text, query) in profile.attributes ?? [:] {
                guard let path = LwM2MPath(text) else { continue }
                _ = try? await writeAttributes(deviceId: deviceId, path: path, query: query.split(separator: "&").map(String.init))
            }
            for path in paths.sorted() { _ = try? await observe(deviceId: deviceId, path: path) }
        }
    }

    func updated(_ registration: LwM2MRegistration) {
        logger.info("LwM2M registration updated", metadata: ["endpoint": "\(registration.endpoint)", "transport": "lwm2m"])
        event(registration, "updated")
        deliverQueued(deviceId: registration.device.id)
    }

    func ended(_ registration: LwM2MRegistration, event name: String) {
        metrics.devicesConnected(.lwm2m, registrations.count)
        if registrations.registration(deviceId: registration.device.id) == nil,
            let id = downlinkRegistrations.withLock({ $0.removeValue(forKey: registration.device.id) })
        {
            deviceSessions?.unregister(deviceId: registration.device.id, registration: id)
        }
        logger.info("LwM2M client \(name)", metadata: ["endpoint": "\(registration.endpoint)", "device_id": "\(registration.device.id)", "transport": "lwm2m"])
        event(registration, name)
        // The client is gone: forget its observations (an RST ends any late notification).
        let stillRegistered = registrations.registration(deviceId: registration.device.id) != nil
        let tokens: [CoAPToken] = stillRegistered ? [] : observations.withLock { state in
            state[registration.device.id].map { Array($0.values) } ?? []
        }
        if let endpoint = currentEndpoint {
            for token in tokens { _ = endpoint.cancelObservation(token: token, peer: registration.peer, request: nil) }
        }
    }

    private func event(_ registration: LwM2MRegistration, _ name: String) {
        let now = EpochClock.nowMilliseconds()
        let values = #"{"event":"\#(name)","endpoint":"# + JSONEscaping.quoted(registration.endpoint)
            + #","lifetime":\#(registration.lifetime),"binding":"# + JSONEscaping.quoted(registration.binding)
            + #","lwm2mVersion":"# + JSONEscaping.quoted(registration.version) + "}"
        let message = GatewayMessage(
            device: registration.device, kind: .connectivity, transport: .lwm2m, receivedAt: now,
            entries: [TelemetryEntry(ts: now, values: ByteBuffer(string: values))], completion: UnacknowledgedCompletion.shared)
        if case .refused(let reason) = ingest.submit(message) {
            logger.warning("connectivity event not forwarded", metadata: ["endpoint": "\(registration.endpoint)", "reason": "\(reason.rawValue)"])
        }
    }

    // MARK: Telemetry

    /// Values from a notification or a Send, as one telemetry message per
    /// timestamp, keyed by the device type's profile (default `3303/0/5700`).
    func forward(_ nodes: [LwM2MNode], registration: LwM2MRegistration, completion: any DeliveryCompletion) -> DropReason? {
        guard !nodes.isEmpty else {
            completion.complete(.delivered)
            return nil
        }
        let receivedAt = EpochClock.nowMilliseconds()
        let profile = profiles.profile(deviceType: registration.device.type)
        var groups: [(ts: Int64, fields: [String])] = []
        for node in nodes {
            let ts = node.time.map { SenML.epochMilliseconds($0, now: receivedAt) } ?? receivedAt
            let field = JSONEscaping.quoted(profile.key(for: node.path)) + ":" + node.value.json
            if let index = groups.firstIndex(where: { $0.ts == ts }) { groups[index].fields.append(field) } else { groups.append((ts, [field])) }
        }
        let entries = groups.map { TelemetryEntry(ts: $0.ts, values: ByteBuffer(string: "{" + $0.fields.joined(separator: ",") + "}")) }
        metrics.messageReceived(.lwm2m)
        let message = GatewayMessage(
            device: registration.device, kind: .telemetry, transport: .lwm2m, receivedAt: receivedAt, entries: entries, completion: completion)
        if case .refused(let reason) = ingest.submit(message) { return reason }
        return nil
    }
}
