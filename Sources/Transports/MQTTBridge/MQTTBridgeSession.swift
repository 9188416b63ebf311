import ProcessorAPI

/// A device bridged from the broker as a downlink target: shared-attribute
/// updates and RPC requests are published back to the broker on the
/// routes' downlink topics (QoS 1), where the device listens.
struct MQTTBridgeSession: DeviceSession {
    let deviceName: String
    let routes: MQTTBridgeRoutes
    let publish: @Sendable (_ topic: String, _ payload: String) -> Void
    var transport: TransportKind { .mqttBridge }

    func carries(_ message: DownlinkMessage) -> Bool {
        switch message {
        case .sharedAttributesUpdated, .sharedAttributesDeleted: routes.attributes != nil
        case .rpcRequest: routes.rpcRequest != nil
        case .rpcResponse: false
        }
    }

    func deliver(_ message: DownlinkMessage) {
        switch message {
        case .sharedAttributesUpdated(let json):
            if let topic = routes.attributes?.topic(device: deviceName) { publish(topic, json) }
        case .sharedAttributesDeleted(let keys):
            if let topic = routes.attributes?.topic(device: deviceName) {
                publish(topic, #"{"deleted":["# + keys.map(JSONEscaping.quoted).joined(separator: ",") + "]}")
            }
        case .rpcRequest(let id, let method, let params):
            if let topic = routes.rpcRequest?.topic(device: deviceName, id: String(id)) {
                publish(topic, #"{"method":"# + JSONEscaping.quoted(method) + #","params":"# + params + "}")
            }
        case .rpcResponse:
            return
        }
    }
}
