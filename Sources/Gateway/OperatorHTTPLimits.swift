import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Bounds for the operators' HTTP servers (admin API, /metrics): few
/// clients, so a small connection cap (more wait in the listen backlog
/// until one closes) and an idle time-out, so idle or trickling
/// connections cannot pile up (docs/security.md).
enum OperatorHTTPLimits {
    static let maximumConnections = 256
    static let idleTimeout = TimeAmount.seconds(30)

    static var server: HTTPServerBuilder { .http1(configuration: .init(idleTimeout: idleTimeout)) }

    static func configuration(host: String, port: Int, logger: Logger) -> ApplicationConfiguration {
        .init(
            address: .hostname(host, port: port), serverName: nil, reuseAddress: true,
            availableConnectionsDelegate: MaximumAvailableConnections(maximumConnections, logger: logger))
    }
}
