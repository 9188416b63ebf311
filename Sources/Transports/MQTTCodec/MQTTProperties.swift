import NIOCore

/// MQTT 5.0 properties (§2.2.2): identifiers, their types, and where each may
/// appear. Decoding refuses unknown identifiers, properties not allowed in the
/// packet and duplicates of those that may appear only once.
package struct MQTTProperties: Sendable, Equatable {
    package enum Value: Sendable, Equatable {
        case byte(UInt8)
        case twoByteInteger(UInt16)
        case fourByteInteger(UInt32)
        case variableInteger(Int)
        case string(String)
        case binary(ByteBuffer)
        case stringPair(String, String)
    }

    package struct Identifier: RawRepresentable, Sendable, Hashable {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }

        package static let payloadFormatIndicator = Self(rawValue: 0x01)
        package static let messageExpiryInterval = Self(rawValue: 0x02)
        package static let contentType = Self(rawValue: 0x03)
        package static let responseTopic = Self(rawValue: 0x08)
        package static let correlationData = Self(rawValue: 0x09)
        package static let subscriptionIdentifier = Self(rawValue: 0x0B)
        package static let sessionExpiryInterval = Self(rawValue: 0x11)
        package static let assignedClientIdentifier = Self(rawValue: 0x12)
        package static let serverKeepAlive = Self(rawValue: 0x13)
        package static let authenticationMethod = Self(rawValue: 0x15)
        package static let authenticationData = Self(rawValue: 0x16)
        package static let requestProblemInformation = Self(rawValue: 0x17)
        package static let willDelayInterval = Self(rawValue: 0x18)
        package static let requestResponseInformation = Self(rawValue: 0x19)
        package static let responseInformation = Self(rawValue: 0x1A)
        package static let serverReference = Self(rawValue: 0x1C)
        package static let reasonString = Self(rawValue: 0x1F)
        package static let receiveMaximum = Self(rawValue: 0x21)
        package static let topicAliasMaximum = Self(rawValue: 0x22)
        package static let topicAlias = Self(rawValue: 0x23)
        package static let maximumQoS = Self(rawValue: 0x24)
        package static let retainAvailable = Self(rawValue: 0x25)
        package static let userProperty = Self(rawValue: 0x26)
        package static let maximumPacketSize = Self(rawValue: 0x27)
        package static let wildcardSubscriptionAvailable = Self(rawValue: 0x28)
        package static let subscriptionIdentifierAvailable = Self(rawValue: 0x29)
        package static let sharedSubscriptionAvailable = Self(rawValue: 0x2A)
    }

    /// Where a property may appear (MQTT 5.0 §2.2.2.2 table).
    package enum Context: Sendable {
        case connect, connack, publish, will, puback, subscribe, suback, unsubscribe, unsuback, disconnect, auth
    }

    package private(set) var entries: [(Identifier, Value)] = []

    package init() {}

    package init(_ entries: [(Identifier, Value)]) {
        self.entries = entries
    }

    package static func == (lhs: MQTTProperties, rhs: MQTTProperties) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    package var isEmpty: Bool { entries.isEmpty }

    package mutating func append(_ identifier: Identifier, _ value: Value) {
        entries.append((identifier, value))
    }

    package subscript(_ identifier: Identifier) -> Value? {
        entries.first { $0.0 == identifier }?.1
    }

    package func integer(_ identifier: Identifier) -> Int? {
        switch self[identifier] {
        case .byte(let value): Int(value)
        case .twoByteInteger(let value): Int(value)
        case .fourByteInteger(let value): Int(value)
        case .variableInteger(let value): value
        default: nil
        }
    }

    package func string(_ identifier: Identifier) -> String? {
        if case .string(let value) = self[identifier] { return value }
        return nil
    }

    // MARK: Identifier table

    private enum Kind { case byte, two, four, variable, string, binary, pair }

    private static func describe(_ identifier: Identifier) -> (Kind, Set<Context>)? {
        switch identifier {
        case .payloadFormatIndicator: (.byte, [.publish, .will])
        case .messageExpiryInterval: (.four, [.publish, .will])
        case .contentType: (.string, [.publish, .will])
        case .responseTopic: (.string, [.publish, .will])
        case .correlationData: (.binary, [.publish, .will])
        case .subscriptionIdentifier: (.variable, [.publish, .subscribe])
        case .sessionExpiryInterval: (.four, [.connect, .connack, .disconnect])
        case .assignedClientIdentifier: (.string, [.connack])
        case .serverKeepAlive: (.two, [.connack])
        case .authenticationMethod: (.string, [.connect, .connack, .auth])
        case .authenticationData: (.binary, [.connect, .connack, .auth])
        case .requestProblemInformation: (.byte, [.connect])
        case .willDelayInterval: (.four, [.will])
        case .requestResponseInformation: (.byte, [.connect])
        case .responseInformation: (.string, [.connack])
        case .serverReference: (.string, [.connack, .disconnect])
        case .reasonString: (.string, [.connack, .puback, .suback, .unsuback, .disconnect, .auth])
        case .receiveMaximum: (.two, [.connect, .connack])
        case .topicAliasMaximum: (.two, [.connect, .connack])
        case .topicAlias: (.two, [.publish])
        case .maximumQoS: (.byte, [.connack])
        case .retainAvailable: (.byte, [.connack])
        case .userProperty: (.pair, [.connect, .connack, .publish, .will, .puback, .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth])
        case .maximumPacketSize: (.four, [.connect, .connack])
        case .wildcardSubscriptionAvailable: (.byte, [.connack])
        case .subscriptionIdentifierAvailable: (.byte, [.connack])
        case .sharedSubscriptionAvailable: (.byte, [.connack])
        default: nil
        }
    }

    // MARK: Decoding and encoding

    /// Reads the Property Length and the properties it covers.
    package static func read(from buffer: inout ByteBuffer, context: Context) throws(MQTTCodecError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableInteger("Property Length")
        guard var bytes = buffer.readSlice(length: length) else {
            throw .malformedPacket("properties run past the packet")
        }
        var properties = MQTTProperties()
        var seen = Set<Identifier>()
        while bytes.readableBytes > 0 {
            let identifier = Identifier(rawValue: UInt8(truncatingIfNeeded: try bytes.readMQTTVariableInteger("property identifier")))
            guard let (kind, contexts) = describe(identifier) else {
                throw .invalidProperty("unknown identifier 0x\(String(identifier.rawValue, radix: 16))")
            }
            guard contexts.contains(context) else {
                throw .invalidProperty("0x\(String(identifier.rawValue, radix: 16)) is not allowed in \(context)")
            }
            // User Property may repeat, and so may Subscription Identifier in a PUBLISH.
            let repeatable = identifier == .userProperty || (identifier == .subscriptionIdentifier && context == .publish)
            guard repeatable || seen.insert(identifier).inserted else {
                throw .invalidProperty("0x\(String(identifier.rawValue, radix: 16)) appears twice")
            }
            let value: Value
            switch kind {
            case .byte: value = .byte(try bytes.readMQTTByte("property"))
            case .two: value = .twoByteInteger(try bytes.readMQTTUInt16("property"))
            case .four: value = .fourByteInteger(try bytes.readMQTTUInt32("property"))
            case .variable: value = .variableInteger(try bytes.readMQTTVariableInteger("property"))
            case .string: value = .string(try bytes.readMQTTString("property"))
            case .binary: value = .binary(try bytes.readMQTTBinary("property"))
            case .pair: value = .stringPair(try bytes.readMQTTString("property"), try bytes.readMQTTString("property"))
            }
            try validate(identifier, value)
            properties.append(identifier, value)
        }
        return properties
    }

    /// Value rules of §3.1.2.11 and §3.2.2.3.
    private static func validate(_ identifier: Identifier, _ value: Value) throws(MQTTCodecError) {
        switch (identifier, value) {
        case (.payloadFormatIndicator, .byte(let byte)), (.requestProblemInformation, .byte(let byte)),
            (.requestResponseInformation, .byte(let byte)):
            guard byte <= 1 else { throw .invalidProperty("0x\(String(identifier.rawValue, radix: 16)) must be 0 or 1") }
        case (.receiveMaximum, .twoByteInteger(0)):
            throw .invalidProperty("Receive Maximum of 0")
        case (.maximumPacketSize, .fourByteInteger(0)):
            throw .invalidProperty("Maximum Packet Size of 0")
        case (.subscriptionIdentifier, .variableInteger(0)):
            throw .invalidProperty("Subscription Identifier of 0")
        default:
            break
        }
    }

    /// The encoded size of the properties, without the Property Length.
    package var encodedLength: Int {
        entries.reduce(0) { total, entry in
            total + 1 + {
                switch entry.1 {
                case .byte: 1
                case .twoByteInteger: 2
                case .fourByteInteger: 4
                case .variableInteger(let value): ByteBuffer.mqttVariableIntegerSize(value)
                case .string(let text): 2 + text.utf8.count
                case .binary(let bytes): 2 + bytes.readableBytes
                case .stringPair(let key, let value): 4 + key.utf8.count + value.utf8.count
                }
            }()
        }
    }

    /// Writes the Property Length and the properties.
    package func write(to buffer: inout ByteBuffer) throws(MQTTCodecError) {
        try buffer.writeMQTTVariableInteger(encodedLength)
        for (identifier, value) in entries {
            buffer.writeInteger(identifier.rawValue)
            switch value {
            case .byte(let byte): buffer.writeInteger(byte)
            case .twoByteInteger(let number): buffer.writeInteger(number, endianness: .big)
            case .fourByteInteger(let number): buffer.writeInteger(number, endianness: .big)
            case .variableInteger(let number): try buffer.writeMQTTVariableInteger(number)
            case .string(let text): try buffer.writeMQTTString(text, "property")
            case .binary(let bytes): try buffer.writeMQTTBinary(bytes, "property")
            case .stringPair(let key, let text):
                try buffer.writeMQTTString(key, "user property")
                try buffer.writeMQTTString(text, "user property")
            }
        }
    }
}
