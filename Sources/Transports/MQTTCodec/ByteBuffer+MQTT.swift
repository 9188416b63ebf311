import NIOCore

/// MQTT's data representations (MQTT 3.1.1 §1.5, MQTT 5.0 §1.5), read from
/// the bytes of one packet whose length is already known: running out of
/// bytes here is a malformed packet, not a short read.
extension ByteBuffer {
    mutating func readMQTTByte(_ field: String) throws(MQTTCodecError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformedPacket("\(field) missing") }
        return value
    }

    mutating func readMQTTUInt16(_ field: String) throws(MQTTCodecError) -> UInt16 {
        guard let value = readInteger(endianness: .big, as: UInt16.self) else { throw .malformedPacket("\(field) missing") }
        return value
    }

    mutating func readMQTTUInt32(_ field: String) throws(MQTTCodecError) -> UInt32 {
        guard let value = readInteger(endianness: .big, as: UInt32.self) else { throw .malformedPacket("\(field) missing") }
        return value
    }

    /// Variable Byte Integer (MQTT 5.0 §1.5.5): at most 4 bytes.
    mutating func readMQTTVariableInteger(_ field: String) throws(MQTTCodecError) -> Int {
        var value = 0
        var multiplier = 1
        for _ in 0..<4 {
            guard let byte = readInteger(as: UInt8.self) else { throw .malformedPacket("\(field) missing") }
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return value }
            multiplier *= 128
        }
        throw .malformedPacket("\(field) is longer than 4 bytes")
    }

    /// Binary Data: a two-byte length, then that many bytes.
    mutating func readMQTTBinary(_ field: String) throws(MQTTCodecError) -> ByteBuffer {
        let length = Int(try readMQTTUInt16(field))
        guard let bytes = readSlice(length: length) else { throw .malformedPacket("\(field) runs past the packet") }
        return bytes
    }

    /// UTF-8 Encoded String (MQTT-1.5.3-1/2/3): well-formed UTF-8 without
    /// U+0000. Control characters are allowed by the spec (a receiver MAY
    /// refuse them); this server accepts them.
    mutating func readMQTTString(_ field: String) throws(MQTTCodecError) -> String {
        let bytes = try readMQTTBinary(field)
        return try bytes.mqttValidatedString()
    }

    func mqttValidatedString() throws(MQTTCodecError) -> String {
        // One pass builds the String (the validation is the copy); it was
        // validated once and then decoded again, two Strings per topic name.
        let string = withUnsafeReadableBytes { raw -> String? in
            if raw.contains(0) { return nil }
            return String(validating: raw, as: UTF8.self)
        }
        guard let string else { throw .invalidUTF8 }
        return string
    }

    // MARK: Writing

    /// Refuses what four bytes cannot say (MQTT 5.0 §1.5.5): a value past
    /// 268,435,455 would otherwise be written as five bytes, a malformed packet.
    package mutating func writeMQTTVariableInteger(_ value: Int) throws(MQTTCodecError) {
        guard value >= 0, value <= mqttMaximumRemainingLength else {
            throw .packetTooLarge(size: value, limit: mqttMaximumRemainingLength)
        }
        var remaining = value
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while remaining > 0
    }

    /// A UTF-8 Encoded String has a two-byte length (MQTT-1.5.3, MQTT 5.0
    /// §1.5.4): one of 65,536 bytes or more cannot be written and is refused,
    /// never truncated into a trap (a device-chosen request id once made a
    /// reply topic of 65,536 bytes and took the gateway down).
    mutating func writeMQTTString(_ value: String, _ field: String = "string") throws(MQTTCodecError) {
        let length = value.utf8.count
        guard let prefix = UInt16(exactly: length) else { throw .valueTooLong(field: field, length: length) }
        writeInteger(prefix, endianness: .big)
        writeString(value)
    }

    /// Binary Data: the same two-byte length limit (MQTT 5.0 §1.5.6).
    mutating func writeMQTTBinary(_ value: ByteBuffer, _ field: String = "binary data") throws(MQTTCodecError) {
        guard let prefix = UInt16(exactly: value.readableBytes) else {
            throw .valueTooLong(field: field, length: value.readableBytes)
        }
        writeInteger(prefix, endianness: .big)
        writeImmutableBuffer(value)
    }

    package static func mqttVariableIntegerSize(_ value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }
}

/// The largest Remaining Length four bytes can express (MQTT 5.0 §1.5.5).
package let mqttMaximumRemainingLength = 268_435_455

/// The longest UTF-8 Encoded String or Binary Data field (MQTT 5.0 §1.5.4).
package let mqttMaximumFieldLength = 65_535
