/// What an inbound message carries; each kind has its own Kafka topic
/// (architecture.md, "Kafka records").
package enum MessageKind: String, Sendable, CaseIterable {
    case telemetry
    case attributes
    case rpcResponse = "rpc_response"
    case clientRPC = "client_rpc"
    case connectivity
    /// A state change of a persistent server-side RPC (QUEUED, SENT,
    /// DELIVERED, SUCCESSFUL, TIMEOUT, EXPIRED, FAILED), which the gateway
    /// itself reports on the RPC topic.
    case rpcState = "rpc_state"
}
