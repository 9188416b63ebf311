import NIOCore

/// The HTTP device API's settings.
package struct HTTPTransportConfiguration: Sendable {
    /// HTTP_BIND_ADDRESS and HTTP_BIND_PORT (0 picks a free port, logged at start).
    package var host: String
    package var port: Int
    /// MAX_PAYLOAD_SIZE: larger bodies get 413.
    package var maxPayloadSize: Int
    /// HTTP_ACK_TIMEOUT: how long a request waits for the sink's verdict
    /// before it is answered 503 (the record may still arrive later).
    package var ackTimeout: Duration
    /// HTTP_MAX_CONNECTIONS: open connections; past it a new one is
    /// answered 503 and closed.
    package var maxConnections: Int
    /// HTTP_MAX_CONNECTIONS_PER_ADDRESS: of those, how many one IP address holds.
    package var maxConnectionsPerAddress: Int
    /// HTTP_REQUEST_TIMEOUT: from a request's first byte to its last
    /// (slowloris); past it 408 and the connection closes.
    package var requestTimeout: Duration
    /// HTTP_IDLE_TIMEOUT: a keep-alive connection without a request for this
    /// long is closed.
    package var idleTimeout: Duration

    package init(
        host: String = "0.0.0.0", port: Int = 8081, maxPayloadSize: Int = 65536, ackTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000, maxConnectionsPerAddress: Int = 1_000,
        requestTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.maxPayloadSize = maxPayloadSize
        self.ackTimeout = ackTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }
}
