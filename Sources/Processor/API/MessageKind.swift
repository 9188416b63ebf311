/// What an inbound message carries; each kind has its own Kafka topic
/// (architecture.md, "Kafka records").
package enum MessageKind: String, Sendable, CaseIterable {
    case telemetry
    case attributes
    case rpcResponse = "rpc_response"
    case clientRPC = "client_rpc"
    case connectivity
}
