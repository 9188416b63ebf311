/// MQTT 5.0 reason codes (§2.4) used by this server, and the 3.1.1 CONNACK
/// return codes they correspond to (MQTT 3.1.1 §3.2.2.3).
package struct MQTTReasonCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    package static let success = Self(rawValue: 0x00)
    package static let grantedQoS1 = Self(rawValue: 0x01)
    package static let grantedQoS2 = Self(rawValue: 0x02)
    package static let disconnectWithWill = Self(rawValue: 0x04)
    package static let noMatchingSubscribers = Self(rawValue: 0x10)
    package static let noSubscriptionExisted = Self(rawValue: 0x11)
    package static let unspecifiedError = Self(rawValue: 0x80)
    package static let malformedPacket = Self(rawValue: 0x81)
    package static let protocolError = Self(rawValue: 0x82)
    package static let implementationSpecificError = Self(rawValue: 0x83)
    package static let unsupportedProtocolVersion = Self(rawValue: 0x84)
    package static let clientIdentifierNotValid = Self(rawValue: 0x85)
    package static let badUserNameOrPassword = Self(rawValue: 0x86)
    package static let notAuthorized = Self(rawValue: 0x87)
    package static let serverUnavailable = Self(rawValue: 0x88)
    package static let serverBusy = Self(rawValue: 0x89)
    package static let serverShuttingDown = Self(rawValue: 0x8B)
    package static let keepAliveTimeout = Self(rawValue: 0x8D)
    package static let sessionTakenOver = Self(rawValue: 0x8E)
    package static let topicFilterInvalid = Self(rawValue: 0x8F)
    package static let topicNameInvalid = Self(rawValue: 0x90)
    package static let packetIdentifierInUse = Self(rawValue: 0x91)
    package static let packetIdentifierNotFound = Self(rawValue: 0x92)
    package static let receiveMaximumExceeded = Self(rawValue: 0x93)
    package static let topicAliasInvalid = Self(rawValue: 0x94)
    package static let packetTooLarge = Self(rawValue: 0x95)
    package static let messageRateTooHigh = Self(rawValue: 0x96)
    package static let quotaExceeded = Self(rawValue: 0x97)
    package static let payloadFormatInvalid = Self(rawValue: 0x99)
    package static let qosNotSupported = Self(rawValue: 0x9B)
    package static let sharedSubscriptionsNotSupported = Self(rawValue: 0x9E)
    package static let connectionRateExceeded = Self(rawValue: 0x9F)
    package static let wildcardSubscriptionsNotSupported = Self(rawValue: 0xA2)

    package var isFailure: Bool { rawValue >= 0x80 }

    /// The MQTT 3.1.1 CONNACK return code for a refused connection.
    package var connectReturnCode311: UInt8 {
        switch self {
        case .success: 0
        case .unsupportedProtocolVersion: 1
        case .clientIdentifierNotValid: 2
        case .serverUnavailable, .serverBusy, .serverShuttingDown, .connectionRateExceeded: 3
        case .badUserNameOrPassword: 4
        default: 5  // not authorized
        }
    }

    package var description: String { "0x" + String(rawValue, radix: 16) }
}
