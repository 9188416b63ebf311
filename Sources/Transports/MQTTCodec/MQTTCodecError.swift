/// Why bytes are not a valid MQTT packet. Each case maps to the reason code
/// a 5.0 server sends in DISCONNECT (MQTT 5.0 §4.13) before closing; 3.1.1
/// simply closes the connection (MQTT-4.8.0-1).
package enum MQTTCodecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Remaining Length longer than 4 bytes (MQTT-2.2.3, 1.5.5).
    case malformedRemainingLength
    /// The packet is larger than the maximum packet size the server accepts.
    case packetTooLarge(size: Int, limit: Int)
    /// Packet type 0, or a type the receiving side must never get.
    case invalidPacketType(UInt8)
    /// Fixed-header flags that the spec reserves (MQTT-2.2.2-1/2).
    case invalidFlags(packetType: UInt8, flags: UInt8)
    /// The packet's fields run past its Remaining Length, or bytes are left over.
    case malformedPacket(String)
    /// A string that is not well-formed UTF-8, contains U+0000, or a surrogate (MQTT-1.5.3-1/2).
    case invalidUTF8
    /// CONNECT with a protocol name other than "MQTT" or an unsupported level.
    case unsupportedProtocol(name: String, level: UInt8)
    /// QoS 3 (MQTT-3.3.1-4).
    case invalidQoS
    /// A packet identifier of 0 where one is required (MQTT-2.3.1-1).
    case zeroPacketIdentifier
    /// An unknown property identifier, one not allowed in this packet, or a duplicate (MQTT 5.0 §2.2.2.2).
    case invalidProperty(String)
    /// A topic name or filter that breaks the rules of §4.7.
    case invalidTopic(String)
    /// A packet before CONNECT, or a second CONNECT (MQTT-3.1.0-1/2).
    case protocolViolation(String)
    /// Writing: a string or binary field longer than its two-byte length can
    /// say (MQTT 5.0 §1.5.4); the packet is not sent.
    case valueTooLong(field: String, length: Int)

    /// The MQTT 5.0 reason code for DISCONNECT.
    package var reasonCode: MQTTReasonCode {
        switch self {
        case .packetTooLarge, .valueTooLong: .packetTooLarge
        case .unsupportedProtocol: .unsupportedProtocolVersion
        case .invalidTopic: .topicNameInvalid
        case .protocolViolation, .invalidQoS, .zeroPacketIdentifier, .invalidPacketType: .protocolError
        case .malformedRemainingLength, .invalidFlags, .malformedPacket, .invalidUTF8, .invalidProperty: .malformedPacket
        }
    }

    package var description: String {
        switch self {
        case .malformedRemainingLength: "malformed Remaining Length"
        case .packetTooLarge(let size, let limit): "packet of \(size) bytes exceeds the maximum of \(limit)"
        case .invalidPacketType(let type): "invalid packet type \(type)"
        case .invalidFlags(let type, let flags): "invalid flags \(flags) for packet type \(type)"
        case .malformedPacket(let what): "malformed packet: \(what)"
        case .invalidUTF8: "string is not well-formed UTF-8"
        case .unsupportedProtocol(let name, let level): "unsupported protocol \(name) level \(level)"
        case .invalidQoS: "QoS 3 is not allowed"
        case .zeroPacketIdentifier: "packet identifier 0 is not allowed"
        case .invalidProperty(let what): "invalid property: \(what)"
        case .invalidTopic(let what): "invalid topic: \(what)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .valueTooLong(let field, let length): "\(field) of \(length) bytes is longer than the 65,535 an MQTT field can hold"
        }
    }
}
