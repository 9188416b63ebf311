import ProcessorAPI

/// What the HTTP sink needs (KAFKA_ENABLED=false).
package struct HTTPSinkConfiguration: Sendable {
    /// `TB_PROTOCOL://TB_HOST:TB_PORT`.
    package var baseURL: String
    /// TB_TELEMETRY_PATH.
    package var telemetryPath: String
    /// TB_ATTRIBUTES_PATH.
    package var attributesPath: String
    /// Connectivity events and RPC records have fixed paths beside those two.
    package var eventsPath: String
    package var rpcPath: String
    /// GATEWAY_ACCESS_TOKEN, sent as `Authorization: Bearer …` when set.
    package var accessToken: String?
    /// HTTP_SINK_TIMEOUT: how long one batch is retried before it fails.
    package var deliveryTimeout: Duration
    /// One attempt's bound.
    package var requestTimeout: Duration
    /// The first retry delay; doubled after each failure up to `maximumBackoff`.
    package var initialBackoff: Duration
    package var maximumBackoff: Duration

    package init(
        baseURL: String,
        telemetryPath: String = "/api/v1/gateway/telemetry",
        attributesPath: String = "/api/v1/gateway/attributes",
        eventsPath: String = "/api/v1/gateway/events",
        rpcPath: String = "/api/v1/gateway/rpc",
        accessToken: String? = nil,
        deliveryTimeout: Duration = .seconds(30),
        requestTimeout: Duration = .seconds(10),
        initialBackoff: Duration = .milliseconds(100),
        maximumBackoff: Duration = .seconds(5)
    ) {
        self.baseURL = baseURL
        self.telemetryPath = telemetryPath
        self.attributesPath = attributesPath
        self.eventsPath = eventsPath
        self.rpcPath = rpcPath
        self.accessToken = accessToken
        self.deliveryTimeout = deliveryTimeout
        self.requestTimeout = requestTimeout
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    package func path(for kind: MessageKind) -> String {
        switch kind {
        case .telemetry: telemetryPath
        case .attributes: attributesPath
        case .connectivity: eventsPath
        case .rpcResponse, .clientRPC, .rpcState: rpcPath
        }
    }
}
