/// The protocol a message arrived on; the `transport` label of every metric
/// and the `transport` field and header of every Kafka record.
package enum TransportKind: String, Sendable, CaseIterable {
    case http
    case mqtt
    case coap
    case lwm2m
    case mqttBridge = "mqtt_bridge"
}
