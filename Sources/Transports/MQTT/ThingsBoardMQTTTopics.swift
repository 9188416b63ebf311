import MQTTCodec

/// The ThingsBoard device MQTT API's topics.
enum ThingsBoardMQTTTopic: Equatable {
    case telemetry
    case attributes
    /// `v1/devices/me/attributes/request/{id}`
    case attributesRequest(String)
    /// `v1/devices/me/rpc/response/{id}`: a reply to a server-side RPC.
    case rpcResponse(String)
    /// `v1/devices/me/rpc/request/{id}`: a client-side RPC.
    case rpcRequest(String)

    static let telemetryTopic = "v1/devices/me/telemetry"
    static let attributesTopic = "v1/devices/me/attributes"
    static let attributesRequestPrefix = "v1/devices/me/attributes/request/"
    static let attributesResponsePrefix = "v1/devices/me/attributes/response/"
    static let rpcRequestPrefix = "v1/devices/me/rpc/request/"
    static let rpcResponsePrefix = "v1/devices/me/rpc/response/"

    /// The topic filters a device may subscribe to.
    static let subscribable: Set<String> = [
        attributesTopic, attributesResponsePrefix + "+", rpcRequestPrefix + "+", rpcResponsePrefix + "+",
    ]

    /// One of the API's filters, or a concrete topic under one of them
    /// (`v1/devices/me/attributes/response/7`, as mosquitto_rr subscribes).
    static func isSubscribable(_ filter: String) -> Bool {
        if subscribable.contains(filter) { return true }
        guard !filter.contains("+"), !filter.contains("#") else { return false }
        return subscribable.contains { MQTTTopic.matches(filter: $0, topic: filter) }
    }

    init?(publishTopic topic: String) {
        switch topic {
        case Self.telemetryTopic: self = .telemetry
        case Self.attributesTopic: self = .attributes
        default:
            if let id = Self.suffix(topic, Self.attributesRequestPrefix) {
                self = .attributesRequest(id)
            } else if let id = Self.suffix(topic, Self.rpcResponsePrefix) {
                self = .rpcResponse(id)
            } else if let id = Self.suffix(topic, Self.rpcRequestPrefix) {
                self = .rpcRequest(id)
            } else {
                return nil
            }
        }
    }

    /// The request id after `prefix`: one non-empty topic level.
    private static func suffix(_ topic: String, _ prefix: String) -> String? {
        guard topic.hasPrefix(prefix) else { return nil }
        let id = String(topic.dropFirst(prefix.count))
        return id.isEmpty || id.contains("/") ? nil : id
    }
}
