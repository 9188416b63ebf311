import NIOCore

extension CoAPMessage {
    /// Writes the message in wire format (RFC 7252 §3): options sorted by
    /// number (stable, so repeated options keep their order), deltas and
    /// lengths with their 13/14 extensions, the payload marker only when a
    /// payload follows.
    package func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(1 << 6) | type.rawValue << 4 | token.length)
        buffer.writeInteger(code.rawValue)
        buffer.writeInteger(messageId)
        for index in stride(from: Int(token.length) - 1, through: 0, by: -1) {
            buffer.writeInteger(UInt8(truncatingIfNeeded: token.value >> (UInt64(index) * 8)))
        }
        var previous = 0
        for option in sortedOptions {
            let number = Int(option.number.rawValue)
            let delta = number - previous
            let length = option.value.readableBytes
            previous = number
            let headerIndex = buffer.writerIndex
            buffer.writeInteger(UInt8(0))
            let deltaNibble = Self.writeExtended(delta, into: &buffer)
            let lengthNibble = Self.writeExtended(length, into: &buffer)
            buffer.setInteger(deltaNibble << 4 | lengthNibble, at: headerIndex)
            buffer.writeImmutableBuffer(option.value)
        }
        if payload.readableBytes > 0 {
            buffer.writeInteger(UInt8(0xFF))
            buffer.writeImmutableBuffer(payload)
        }
    }

    package func encoded() -> ByteBuffer {
        // Room for everything at once: an option takes at most 5 bytes
        // besides its value (§3.1), so the buffer never grows while encoding.
        var capacity = 4 + Int(token.length) + payload.readableBytes + 1
        for option in options { capacity += 5 + option.value.readableBytes }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
        encode(into: &buffer)
        return buffer
    }

    private var sortedOptions: [CoAPOption] {
        var sorted = true
        for index in options.indices.dropFirst() where options[index - 1].number > options[index].number {
            sorted = false
            break
        }
        if sorted { return options }
        return options.enumerated().sorted { ($0.element.number, $0.offset) < ($1.element.number, $1.offset) }.map(\.element)
    }

    /// Writes the extension bytes of a delta or length and returns its nibble.
    private static func writeExtended(_ value: Int, into buffer: inout ByteBuffer) -> UInt8 {
        switch value {
        case ..<13:
            return UInt8(value)
        case ..<269:
            buffer.writeInteger(UInt8(value - 13))
            return 13
        default:
            buffer.writeInteger(UInt16(value - 269))
            return 14
        }
    }
}
