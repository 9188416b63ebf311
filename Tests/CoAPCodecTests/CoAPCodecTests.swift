import CoAPCodec
import NIOCore
import ProcessorAPI
import Testing

private func bytes(_ hex: String) -> ByteBuffer {
    ByteBuffer(bytes: hex.split(separator: " ").map { UInt8($0, radix: 16)! })
}

private func hex(_ buffer: ByteBuffer) -> String {
    buffer.readableBytesView.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

private func decodeFailure(_ hexBytes: String) -> CoAPCodecError? {
    do {
        _ = try CoAPMessage(decoding: bytes(hexBytes))
        return nil
    } catch {
        return error
    }
}

@Suite("CoAP codec: header, token, payload (RFC 7252 §3)")
struct CoAPHeaderTests {
    @Test("CON GET with a 2-byte token and Uri-Path 'temperature'")
    func getWithToken() throws {
        // 0x42: version 1, CON, TKL 2; 0x01 GET; mid 0x7D34; token 0x2021; option 11 len 11.
        let datagram = bytes("42 01 7D 34 20 21 BB 74 65 6D 70 65 72 61 74 75 72 65")
        let message = try CoAPMessage(decoding: datagram)
        #expect(message.type == .confirmable)
        #expect(message.code == .get)
        #expect(message.messageId == 0x7D34)
        #expect(message.token == CoAPToken(bytes: [0x20, 0x21]))
        #expect(message.uriPath == ["temperature"])
        #expect(message.payload.readableBytes == 0)
        #expect(hex(message.encoded()) == hex(datagram))
    }

    @Test("ACK 2.05 with a payload after the marker")
    func piggybacked() throws {
        let datagram = bytes("60 45 7D 34 FF 32 32 2E 33 20 43")
        let message = try CoAPMessage(decoding: datagram)
        #expect(message.type == .acknowledgement && message.code == .content)
        #expect(String(buffer: message.payload) == "22.3 C")
        #expect(hex(message.encoded()) == hex(datagram))
    }

    @Test("an 8-byte token round-trips")
    func longestToken() throws {
        let message = CoAPMessage(
            type: .nonConfirmable, code: .post, messageId: 1, token: CoAPToken(bytes: [1, 2, 3, 4, 5, 6, 7, 0xFF]))
        let datagram = message.encoded()
        #expect(hex(datagram) == "58 02 00 01 01 02 03 04 05 06 07 FF")
        #expect(try CoAPMessage(decoding: datagram) == message)
    }

    @Test("empty ACK and RST are four bytes")
    func emptyMessages() throws {
        #expect(hex(CoAPMessage.empty(.acknowledgement, messageId: 0x1234).encoded()) == "60 00 12 34")
        #expect(hex(CoAPMessage.empty(.reset, messageId: 0xABCD).encoded()) == "70 00 AB CD")
        #expect(try CoAPMessage(decoding: bytes("40 00 00 07")).code.isEmpty)
    }

    @Test("codes print as c.dd")
    func codes() {
        #expect(CoAPCode.changed.description == "2.04")
        #expect(CoAPCode.requestEntityTooLarge.description == "4.13")
        #expect(CoAPCode(rawValue: 0x45) == .content)
        #expect(CoAPCode.continue.description == "2.31")
    }
}

@Suite("CoAP codec: option encoding edges (RFC 7252 §3.1)")
struct CoAPOptionEncodingTests {
    @Test("delta 13 uses one extension byte (value - 13)", arguments: [13, 14, 268])
    func delta13(number: Int) throws {
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 2)
        message.options = [CoAPOption(CoAPOptionNumber(UInt16(number)), ByteBuffer(bytes: [0xAA]))]
        let datagram = message.encoded()
        let extra = String(format2(number - 13))
        #expect(hex(datagram) == "40 01 00 02 D1 \(extra) AA")
        #expect(try CoAPMessage(decoding: datagram) == message)
    }

    @Test("delta 14 uses two extension bytes (value - 269)", arguments: [269, 270, 1000, 65535])
    func delta14(number: Int) throws {
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 3)
        message.options = [CoAPOption(CoAPOptionNumber(UInt16(number)), ByteBuffer())]
        let datagram = message.encoded()
        let value = number - 269
        #expect(hex(datagram) == "40 01 00 03 E0 \(format2(value >> 8)) \(format2(value & 0xFF))")
        #expect(try CoAPMessage(decoding: datagram) == message)
    }

    @Test("length 13 and 14 extensions", arguments: [12, 13, 268, 269, 300])
    func lengths(length: Int) throws {
        var message = CoAPMessage(type: .nonConfirmable, code: .post, messageId: 4)
        message.options = [CoAPOption(.uriQuery, ByteBuffer(repeating: 0x61, count: length))]
        let datagram = message.encoded()
        let header: String
        switch length {
        case ..<13: header = "D\(String(length, radix: 16, uppercase: true)) 02"
        case ..<269: header = "DD 02 \(format2(length - 13))"
        default: header = "DE 02 \(format2((length - 269) >> 8)) \(format2((length - 269) & 0xFF))"
        }
        #expect(hex(datagram).hasPrefix("50 02 00 04 " + header))
        let decoded = try CoAPMessage(decoding: datagram)
        #expect(decoded.firstOption(.uriQuery)?.value.readableBytes == length)
    }

    @Test("an option of length 0 (empty Observe = register)")
    func zeroLength() throws {
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 5, token: CoAPToken(bytes: [9]))
        message.observe = 0
        message.setURI(path: ["rpc"])
        let datagram = message.encoded()
        #expect(hex(datagram) == "41 01 00 05 09 60 53 72 70 63")
        let decoded = try CoAPMessage(decoding: datagram)
        #expect(decoded.observe == 0)
        #expect(decoded.firstOption(.observe)?.value.readableBytes == 0)
    }

    @Test("repeated options keep their order and use delta 0")
    func repeated() throws {
        var message = CoAPMessage(type: .confirmable, code: .post, messageId: 6)
        message.setURI(path: ["api", "v1", "tok", "telemetry"], query: ["a=1", "b=2"])
        message.contentFormat = CoAPContentFormat.json
        let datagram = message.encoded()
        // Uri-Path (11) ×4, Content-Format (12) = delta 1 value 0x32, Uri-Query (15) ×2.
        #expect(hex(datagram) == "40 02 00 06 B3 61 70 69 02 76 31 03 74 6F 6B 09 74 65 6C 65 6D 65 74 72 79 11 32 33 61 3D 31 03 62 3D 32")
        let decoded = try CoAPMessage(decoding: datagram)
        #expect(decoded.uriPath == ["api", "v1", "tok", "telemetry"])
        #expect(decoded.uriQuery == ["a=1", "b=2"])
        #expect(decoded.contentFormat == 50)
        #expect(decoded.uriString == "/api/v1/tok/telemetry?a=1&b=2")
    }

    @Test("options added out of order are sorted on the wire, stable for repeats")
    func sorting() throws {
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 7)
        message.options = [
            CoAPOption(.uriQuery, string: "x"), CoAPOption(.uriPath, string: "b"), CoAPOption(.observe, uint: 0),
            CoAPOption(.uriPath, string: "c"),
        ]
        let decoded = try CoAPMessage(decoding: message.encoded())
        #expect(decoded.options.map(\.number) == [.observe, .uriPath, .uriPath, .uriQuery])
        #expect(decoded.uriPath == ["b", "c"])
    }

    @Test("uint values use the fewest bytes", arguments: [(0, 0), (1, 1), (255, 1), (256, 2), (65535, 2), (65536, 3), (16_777_216, 4)])
    func uintLength(value: Int, length: Int) {
        let option = CoAPOption(.maxAge, uint: UInt32(value))
        #expect(option.value.readableBytes == length)
        #expect(option.uintValue == UInt32(value))
    }

    @Test("Block options: number, more flag, size exponent (RFC 7959 §2.2)")
    func blocks() throws {
        let block = CoAPBlockOption(number: 5, more: true, sizeExponent: 6)
        #expect(block.size == 1024 && block.offset == 5120)
        var message = CoAPMessage(type: .confirmable, code: .post, messageId: 8)
        message.block1 = block
        message.size1 = 9000
        message.block2 = CoAPBlockOption(number: 0, more: false, sizeExponent: 2)
        let decoded = try CoAPMessage(decoding: message.encoded())
        #expect(decoded.block1 == block)
        #expect(decoded.block2 == CoAPBlockOption(number: 0, more: false, sizeExponent: 2))
        #expect(decoded.size1 == 9000)
        #expect(hex(block.option(.block1).value) == "5E")
        // SZX 7 is reserved over UDP.
        #expect(CoAPBlockOption(CoAPOption(.block2, uint: 0x0F)) == nil)
        #expect(CoAPBlockOption.sizeExponent(forSize: 1024) == 6)
        #expect(CoAPBlockOption.sizeExponent(forSize: 500) == 4)
    }
}

@Suite("CoAP codec: critical options (RFC 7252 §5.4.1, §5.4.5)")
struct CoAPCriticalOptionTests {
    /// Found by Scripts/extreme.py: a repeated Accept was served 2.04.
    @Test("a second occurrence of a critical option defined once is unrecognized; repeatable and elective repeats are not", arguments: [
        ("40 01 00 01 D1 04 32 01 32", UInt16?.some(17)),  // Accept twice
        ("40 01 00 01 B1 61 01 62", nil),  // Uri-Path twice: repeatable
        ("40 01 00 01 61 00 01 01", nil),  // Observe twice: elective
        ("40 01 00 01 31 61 01 62", UInt16?.some(3)),  // Uri-Host twice
        ("40 01 00 01 D1 0E 0A 01 0A", UInt16?.some(27)),  // Block1 twice
    ])
    func repeats(datagram: String, expected: UInt16?) throws {
        let message = try CoAPMessage(decoding: bytes(datagram))
        #expect(message.unrecognizedCriticalOption?.rawValue == expected, "\(datagram)")
    }
}

@Suite("CoAP codec: malformed datagrams are typed errors")
struct CoAPMalformedTests {
    @Test("fewer than 4 bytes", arguments: ["", "40", "40 01 00"])
    func truncatedHeader(input: String) {
        let error = decodeFailure(input)
        #expect(error?.reason == .truncatedHeader)
        #expect(error?.deservesReset == false)
    }

    @Test("version other than 1 is ignored, not reset")
    func badVersion() {
        let error = decodeFailure("80 01 00 01")
        #expect(error?.reason == .unsupportedVersion(2))
        #expect(error?.deservesReset == false)
    }

    @Test("token length 9 to 15", arguments: Array(UInt8(9)...15))
    func tokenLength(tkl: UInt8) {
        let first = String(0x40 | tkl, radix: 16, uppercase: true)
        let error = decodeFailure("\(first) 01 00 09 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F")
        #expect(error?.reason == .invalidTokenLength(tkl))
        #expect(error?.messageId == 9 && error?.deservesReset == true)
    }

    @Test("token shorter than TKL")
    func truncatedToken() {
        #expect(decodeFailure("44 01 00 0A 01 02")?.reason == .truncatedToken)
    }

    @Test("option delta 15 that is not the payload marker")
    func delta15() {
        #expect(decodeFailure("40 02 00 0B F1 41")?.reason == .reservedOptionDelta)
    }

    @Test("option length 15")
    func length15() {
        #expect(decodeFailure("40 02 00 0C BF 41")?.reason == .reservedOptionLength)
    }

    @Test("option value, extended delta or extended length past the end", arguments: [
        "40 01 00 0D BA 61 62 63", "40 01 00 0D D0", "40 01 00 0D E0 01", "40 01 00 0D 1D", "40 01 00 0D 1E 00",
    ])
    func truncatedOption(input: String) {
        let error = decodeFailure(input)
        #expect(error?.reason == .truncatedOption)
        #expect(error?.deservesReset == true)
    }

    @Test("option number above 65535")
    func overflow() {
        #expect(decodeFailure("40 01 00 0E E0 FF FF E0 00 01")?.reason == .optionNumberOverflow)
    }

    @Test("payload marker with an empty payload")
    func emptyPayload() {
        let error = decodeFailure("40 02 00 0F FF")
        #expect(error?.reason == .emptyPayloadAfterMarker)
        #expect(error?.messageType == .confirmable && error?.deservesReset == true)
    }

    @Test("empty message with a token or payload")
    func nonEmptyEmpty() {
        #expect(decodeFailure("41 00 00 10 AA")?.reason == .nonEmptyEmptyMessage)
        #expect(decodeFailure("60 00 00 10 FF 01")?.reason == .nonEmptyEmptyMessage)
    }

    @Test("a NON with a format error is rejected without a Reset")
    func nonNoReset() {
        let error = decodeFailure("50 02 00 11 FF")
        #expect(error?.messageType == .nonConfirmable && error?.deservesReset == false)
    }

    @Test("random bytes never trap", arguments: 0..<4)
    func fuzz(seed: Int) {
        var generator = SplitMix64(seed: UInt64(seed))
        for _ in 0..<5_000 {
            let length = Int(generator.next() % 40)
            var datagram = ByteBuffer()
            // Half of them start like a CoAP header to get past the first checks.
            if generator.next() % 2 == 0 { datagram.writeInteger(UInt8(0x40 | UInt8(generator.next() % 9))) }
            for _ in 0..<length { datagram.writeInteger(UInt8(truncatingIfNeeded: generator.next())) }
            if let message = try? CoAPMessage(decoding: datagram) {
                // Whatever decodes re-encodes to something that decodes the same.
                #expect((try? CoAPMessage(decoding: message.encoded())) == message)
            }
        }
    }
}

private func format2(_ value: Int) -> String {
    (value < 16 ? "0" : "") + String(value, radix: 16, uppercase: true)
}

