import Auth
import Logging
import ProcessorAPI
import Synchronization

/// What every connection of the HTTP device API shares.
package struct DeviceAPI: Sendable {
    let configuration: HTTPTransportConfiguration
    let authenticator: DeviceAuthenticator
    let registry: DeviceRegistry
    let rateLimiter: RateLimiter?
    let ingest: any MessageIngest
    /// Long-polls register here as downlink sessions; RPC replies are handed to waiting calls.
    let deviceSessions: any DeviceSessionRegistry
    let metrics: GatewayMetrics
    let logger: Logger
    /// Numbers client-side RPC across connections (`http-N`), so the
    /// backend's answer finds the one request it belongs to.
    let clientRPCNumbers = ClientRPCNumbers()

    package init(
        configuration: HTTPTransportConfiguration,
        authenticator: DeviceAuthenticator,
        registry: DeviceRegistry,
        rateLimiter: RateLimiter?,
        ingest: any MessageIngest,
        deviceSessions: any DeviceSessionRegistry,
        metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.registry = registry
        self.rateLimiter = rateLimiter
        self.ingest = ingest
        self.deviceSessions = deviceSessions
        self.metrics = metrics
        self.logger = logger
    }
}

/// A counter shared by every connection.
final class ClientRPCNumbers: Sendable {
    private let last = Atomic<Int>(0)
    func next() -> Int { last.wrappingAdd(1, ordering: .relaxed).newValue }
}
