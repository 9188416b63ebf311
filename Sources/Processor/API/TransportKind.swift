/// The protocol a message arrived on; the `transport` label of every metric
/// and the `transport` field and header of every Kafka record.
package enum TransportKind: String, Sendable, CaseIterable {
    case http
    case mqtt
    case coap
    case lwm2m
    case mqttBridge = "mqtt_bridge"
    /// Records the gateway originates itself rather than a device (the
    /// states of a persistent RPC); never a metric label.
    case gateway

    /// The protocols devices use: the `transport` label values of the metrics.
    package static let deviceTransports: [TransportKind] = [.http, .mqtt, .coap, .lwm2m, .mqttBridge]
}
