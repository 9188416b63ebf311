import NIOCore
import ProcessorAPI

/// Carries the sink's verdict on one QoS 1 or 2 PUBLISH back to its
/// connection's event loop, where the PUBACK or PUBREC is written.
final class MQTTDeliveryCompletion: DeliveryCompletion {
    private let handler: NIOLoopBound<MQTTConnectionHandler>
    private let packetIdentifier: UInt16
    private let qos: MQTTQoSLevel

    init(handler: MQTTConnectionHandler, eventLoop: any EventLoop, packetIdentifier: UInt16, qos: MQTTQoSLevel) {
        self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
        self.packetIdentifier = packetIdentifier
        self.qos = qos
    }

    func complete(_ outcome: DeliveryOutcome) {
        let (handler, packetIdentifier, qos) = (self.handler, self.packetIdentifier, self.qos)
        handler.eventLoop.execute {
            handler.value.sinkAnswered(packetIdentifier: packetIdentifier, qos: qos, outcome: outcome)
        }
    }

    var eventLoop: (any EventLoop)? { handler.eventLoop }

    func completeOnEventLoop(_ outcome: DeliveryOutcome) {
        handler.value.sinkAnswered(packetIdentifier: packetIdentifier, qos: qos, outcome: outcome)
    }
}

enum MQTTQoSLevel: Sendable {
    case atLeastOnce
    case exactlyOnce
}
