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

    package init(host: String = "0.0.0.0", port: Int = 8081, maxPayloadSize: Int = 65536, ackTimeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.maxPayloadSize = maxPayloadSize
        self.ackTimeout = ackTimeout
    }
}
