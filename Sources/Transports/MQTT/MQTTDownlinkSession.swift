import NIOCore
import ProcessorAPI

/// An MQTT connection as a downlink target: shared-attribute updates are
/// published on `v1/devices/me/attributes`, server-side RPC requests on
/// `v1/devices/me/rpc/request/{id}`, to a client subscribed to them.
struct MQTTDownlinkSession: DeviceSession {
    let handler: NIOLoopBound<MQTTConnectionHandler>
    var transport: TransportKind { .mqtt }

    func deliver(_ message: DownlinkMessage) {
        let handler = self.handler
        handler.eventLoop.execute {
            let topic: String
            let payload: String
            var rpcId: Int?
            switch message {
            case .sharedAttributesUpdated(let json):
                (topic, payload) = (ThingsBoardMQTTTopic.attributesTopic, json)
            case .sharedAttributesDeleted(let keys):
                topic = ThingsBoardMQTTTopic.attributesTopic
                payload = #"{"deleted":["# + keys.map(JSONEscaping.quoted).joined(separator: ",") + "]}"
            case .rpcRequest(let id, let method, let params):
                topic = ThingsBoardMQTTTopic.rpcRequestPrefix + String(id)
                rpcId = id
                payload = #"{"method":"# + JSONEscaping.quoted(method) + #","params":"# + params + "}"
            case .rpcResponse(let id, let json):
                (topic, payload) = (ThingsBoardMQTTTopic.rpcResponsePrefix + id, json)
            }
            handler.value.publishToDevice(topic: topic, payload: ByteBuffer(string: payload), rpcId: rpcId)
        }
    }
}
