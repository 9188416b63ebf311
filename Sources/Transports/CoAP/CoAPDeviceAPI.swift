import Auth
import Logging
import ProcessorAPI

/// What the CoAP device API shares with the rest of the gateway.
package struct CoAPDeviceAPI: Sendable {
    let configuration: CoAPTransportConfiguration
    let authenticator: DeviceAuthenticator
    let registry: DeviceRegistry
    let rateLimiter: RateLimiter?
    let ingest: any MessageIngest
    let deviceSessions: any DeviceSessionRegistry
    let metrics: GatewayMetrics
    let logger: Logger

    package init(
        configuration: CoAPTransportConfiguration,
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
