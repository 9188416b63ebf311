import NIOCore
import ProcessorAPI

/// An MQTT connection as a downlink target: shared-attribute updates are
/// published on `v1/devices/me/attributes` to a client subscribed to it.
struct MQTTDownlinkSession: DeviceSession {
    let handler: NIOLoopBound<MQTTConnectionHandler>

    func deliver(_ message: DownlinkMessage) {
        let handler = self.handler
        handler.eventLoop.execute {
            let payload: String
            switch message {
            case .sharedAttributesUpdated(let json): payload = json
            case .sharedAttributesDeleted(let keys):
                payload = #"{"deleted":["# + keys.map(JSONEscaping.quoted).joined(separator: ",") + "]}"
            }
            handler.value.publishToDevice(topic: ThingsBoardMQTTTopic.attributesTopic, payload: ByteBuffer(string: payload))
        }
    }
}
