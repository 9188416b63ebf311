import NIOCore

extension CoAPMessage {
    /// Decodes one datagram (RFC 7252 §3). Option values and the payload are
    /// slices of `datagram`, not copies. Every malformed input is a typed
    /// error; nothing here traps.
    package init(decoding datagram: ByteBuffer) throws(CoAPCodecError) {
        var buffer = datagram
        guard let first = buffer.readInteger(as: UInt8.self), let codeByte = buffer.readInteger(as: UInt8.self),
            let messageId = buffer.readInteger(as: UInt16.self)
        else { throw CoAPCodecError(.truncatedHeader) }
        let version = first >> 6
        let type = CoAPMessageType(rawValue: (first >> 4) & 0x3)!
        guard version == 1 else { throw CoAPCodecError(.unsupportedVersion(version), messageType: type, messageId: messageId) }
        func failure(_ reason: CoAPCodecError.Reason) -> CoAPCodecError {
            CoAPCodecError(reason, messageType: type, messageId: messageId)
        }
        let tokenLength = first & 0x0F
        guard tokenLength <= 8 else { throw failure(.invalidTokenLength(tokenLength)) }
        guard buffer.readableBytes >= Int(tokenLength) else { throw failure(.truncatedToken) }
        var tokenValue: UInt64 = 0
        for _ in 0..<tokenLength { tokenValue = tokenValue << 8 | UInt64(buffer.readInteger(as: UInt8.self)!) }
        let code = CoAPCode(rawValue: codeByte)

        var options: [CoAPOption] = []
        var number = 0
        var payload = ByteBuffer()
        while let byte = buffer.readInteger(as: UInt8.self) {
            if byte == 0xFF {
                // §3: a marker followed by a zero-length payload is a format error.
                guard buffer.readableBytes > 0 else { throw failure(.emptyPayloadAfterMarker) }
                payload = buffer.readSlice(length: buffer.readableBytes)!
                break
            }
            let delta = try Self.extended(byte >> 4, &buffer, reserved: .reservedOptionDelta, failure)
            let length = try Self.extended(byte & 0x0F, &buffer, reserved: .reservedOptionLength, failure)
            number += delta
            guard number <= Int(UInt16.max) else { throw failure(.optionNumberOverflow) }
            guard let value = buffer.readSlice(length: length) else { throw failure(.truncatedOption) }
            // One allocation for a typical request (a few Uri-Path segments,
            // Content-Format), not one per doubling; none for empty messages.
            if options.isEmpty { options.reserveCapacity(8) }
            options.append(CoAPOption(CoAPOptionNumber(UInt16(number)), value))
        }
        if code.isEmpty, tokenLength != 0 || !options.isEmpty || payload.readableBytes > 0 {
            throw failure(.nonEmptyEmptyMessage)
        }
        self.init(
            type: type, code: code, messageId: messageId, token: CoAPToken(value: tokenValue, length: tokenLength),
            options: options, payload: payload)
    }

    /// An option delta or length nibble with its extension bytes (§3.1):
    /// 13 adds one byte plus 13, 14 adds two bytes plus 269, 15 is reserved.
    private static func extended(
        _ nibble: UInt8,
        _ buffer: inout ByteBuffer,
        reserved: CoAPCodecError.Reason,
        _ failure: (CoAPCodecError.Reason) -> CoAPCodecError
    ) throws(CoAPCodecError) -> Int {
        switch nibble {
        case 13:
            guard let extra = buffer.readInteger(as: UInt8.self) else { throw failure(.truncatedOption) }
            return Int(extra) + 13
        case 14:
            guard let extra = buffer.readInteger(as: UInt16.self) else { throw failure(.truncatedOption) }
            return Int(extra) + 269
        case 15:
            throw failure(reserved)
        default:
            return Int(nibble)
        }
    }
}
