import Auth
import Logging
import ProcessorAPI
import Synchronization

/// What every MQTT connection shares: configuration, the registry and the
/// processor, metrics, and the table of live sessions.
final class MQTTServerContext: Sendable {
    let configuration: MQTTTransportConfiguration
    let authenticator: DeviceAuthenticator
    let registry: DeviceRegistry
    let rateLimiter: RateLimiter?
    let ingest: any MessageIngest
    let metrics: GatewayMetrics
    let logger: Logger
    let sessions = MQTTSessions()
    /// CONNECT deadlines and keep-alives, one sweeper per event loop.
    let sweepers = MQTTConnectionSweepers()
    /// The gateway-wide registry downlink goes through.
    let deviceSessions: any DeviceSessionRegistry
    /// Connections past CONNECT, authenticated or being authenticated
    /// (MQTT_MAX_CONNECTIONS).
    let established = Atomic<Int>(0)
    /// Sockets before CONNECT (MQTT_MAX_PENDING_CONNECTIONS, per address
    /// MQTT_MAX_PENDING_PER_ADDRESS).
    let pending: ConnectionAdmission
    /// One warning per address and minute for refusals and protocol errors.
    let warnings = WarningThrottle()

    init(
        configuration: MQTTTransportConfiguration,
        authenticator: DeviceAuthenticator,
        registry: DeviceRegistry,
        rateLimiter: RateLimiter?,
        ingest: any MessageIngest,
        deviceSessions: any DeviceSessionRegistry,
        metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.deviceSessions = deviceSessions
        self.configuration = configuration
        self.pending = ConnectionAdmission(total: configuration.maxPendingConnections, perAddress: configuration.maxPendingPerAddress)
        self.authenticator = authenticator
        self.registry = registry
        self.rateLimiter = rateLimiter
        self.ingest = ingest
        self.metrics = metrics
        self.logger = logger
    }
}

/// Live authenticated sessions by device id. A second connection for a
/// device takes over: the first is told (DISCONNECT 0x8E on 5.0) and closed.
final class MQTTSessions: Sendable {
    struct Entry: Sendable {
        let connection: UInt64
        /// Runs on the session's event loop: tells the client and closes.
        let takeOver: @Sendable () -> Void
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let nextConnection = Atomic<UInt64>(1)

    func makeConnectionIdentifier() -> UInt64 {
        nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Registers a session; returns how many sessions are live.
    func register(device: String, _ entry: Entry) -> Int {
        let (previous, count) = entries.withLock { entries in
            let previous = entries.updateValue(entry, forKey: device)
            return (previous, entries.count)
        }
        previous?.takeOver()
        return count
    }

    /// Removes the session if it is still the device's current one; returns
    /// how many sessions are live.
    func unregister(device: String, connection: UInt64) -> Int {
        entries.withLock { entries in
            if entries[device]?.connection == connection { entries[device] = nil }
            return entries.count
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
