import NIOCore

/// The protocol levels this codec speaks (CONNECT Protocol Level).
package enum MQTTProtocolVersion: UInt8, Sendable {
    case v311 = 4
    case v5 = 5
}

package enum MQTTQoS: UInt8, Sendable, Comparable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Every MQTT control packet (MQTT 3.1.1 §3, MQTT 5.0 §3). 3.1.1 packets are
/// the 5.0 ones without reason codes and properties.
package enum MQTTPacket: Sendable, Equatable {
    case connect(MQTTConnect)
    case connAck(MQTTConnAck)
    case publish(MQTTPublish)
    case pubAck(MQTTPublishAck)
    case pubRec(MQTTPublishAck)
    case pubRel(MQTTPublishAck)
    case pubComp(MQTTPublishAck)
    case subscribe(MQTTSubscribe)
    case subAck(MQTTSubAck)
    case unsubscribe(MQTTUnsubscribe)
    case unsubAck(MQTTSubAck)
    case pingReq
    case pingResp
    case disconnect(MQTTDisconnect)
    /// MQTT 5.0 only.
    case auth(MQTTAuth)

    /// The fixed header's packet type (bits 7-4 of byte 1).
    package var typeCode: UInt8 {
        switch self {
        case .connect: 1
        case .connAck: 2
        case .publish: 3
        case .pubAck: 4
        case .pubRec: 5
        case .pubRel: 6
        case .pubComp: 7
        case .subscribe: 8
        case .subAck: 9
        case .unsubscribe: 10
        case .unsubAck: 11
        case .pingReq: 12
        case .pingResp: 13
        case .disconnect: 14
        case .auth: 15
        }
    }
}

package struct MQTTConnect: Sendable, Equatable {
    package struct Will: Sendable, Equatable {
        package var topic: String
        package var payload: ByteBuffer
        package var qos: MQTTQoS
        package var retain: Bool
        package var properties: MQTTProperties

        package init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, properties: MQTTProperties = .init()) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
        }
    }

    package var protocolVersion: MQTTProtocolVersion
    package var clientIdentifier: String
    /// Clean Session (3.1.1) / Clean Start (5.0).
    package var cleanStart: Bool
    /// Seconds; 0 turns keep-alive off.
    package var keepAlive: UInt16
    package var username: String?
    package var password: ByteBuffer?
    package var will: Will?
    package var properties: MQTTProperties

    package init(
        protocolVersion: MQTTProtocolVersion, clientIdentifier: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
        username: String? = nil, password: ByteBuffer? = nil, will: Will? = nil, properties: MQTTProperties = .init()
    ) {
        self.protocolVersion = protocolVersion
        self.clientIdentifier = clientIdentifier
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

package struct MQTTConnAck: Sendable, Equatable {
    package var sessionPresent: Bool
    /// 5.0 reason code; for 3.1.1 the return code is `reasonCode.connectReturnCode311`.
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(sessionPresent: Bool = false, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = .init()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

package struct MQTTPublish: Sendable, Equatable {
    /// Empty on 5.0 when a Topic Alias stands for it.
    package var topic: String
    package var payload: ByteBuffer
    package var qos: MQTTQoS
    package var retain: Bool
    package var duplicate: Bool
    /// Present exactly when qos > 0.
    package var packetIdentifier: UInt16?
    package var properties: MQTTProperties

    package init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false, duplicate: Bool = false,
        packetIdentifier: UInt16? = nil, properties: MQTTProperties = .init()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.duplicate = duplicate
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
package struct MQTTPublishAck: Sendable, Equatable {
    package var packetIdentifier: UInt16
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(packetIdentifier: UInt16, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = .init()) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

package struct MQTTSubscribe: Sendable, Equatable {
    package struct Subscription: Sendable, Equatable {
        package var topicFilter: String
        package var qos: MQTTQoS
        package var noLocal: Bool
        package var retainAsPublished: Bool
        package var retainHandling: UInt8

        package init(topicFilter: String, qos: MQTTQoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: UInt8 = 0) {
            self.topicFilter = topicFilter
            self.qos = qos
            self.noLocal = noLocal
            self.retainAsPublished = retainAsPublished
            self.retainHandling = retainHandling
        }
    }

    package var packetIdentifier: UInt16
    package var subscriptions: [Subscription]
    package var properties: MQTTProperties

    package init(packetIdentifier: UInt16, subscriptions: [Subscription], properties: MQTTProperties = .init()) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// SUBACK and UNSUBACK: one reason code per filter (UNSUBACK has none on 3.1.1).
package struct MQTTSubAck: Sendable, Equatable {
    package var packetIdentifier: UInt16
    package var reasonCodes: [MQTTReasonCode]
    package var properties: MQTTProperties

    package init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = .init()) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

package struct MQTTUnsubscribe: Sendable, Equatable {
    package var packetIdentifier: UInt16
    package var topicFilters: [String]
    package var properties: MQTTProperties

    package init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = .init()) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

package struct MQTTDisconnect: Sendable, Equatable {
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = .init()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

package struct MQTTAuth: Sendable, Equatable {
    package var reasonCode: MQTTReasonCode
    package var properties: MQTTProperties

    package init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = .init()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
