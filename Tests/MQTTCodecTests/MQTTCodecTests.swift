import MQTTCodec
import NIOCore
import NIOEmbedded
import NIOTestUtils
import ProcessorAPI
import Testing

func bytes(_ hex: String) -> ByteBuffer {
    let digits = hex.split(separator: " ").map { UInt8($0, radix: 16)! }
    return ByteBuffer(bytes: digits)
}

func ascii(_ text: String) -> String {
    text.utf8.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

func decodeOne(_ buffer: ByteBuffer, version: MQTTProtocolVersion? = .v311) throws(MQTTCodecError) -> MQTTPacket? {
    var buffer = buffer
    return try MQTTPacket.read(from: &buffer, version: version)
}

func encode(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) -> [UInt8] {
    var buffer = ByteBuffer()
    #expect(throws: Never.self) { try packet.write(to: &buffer, version: version) }
    return Array(buffer.readableBytesView)
}

@Suite("MQTT codec: golden bytes from the specifications")
struct MQTTGoldenBytesTests {
    @Test("3.1.1 CONNECT: empty client id, clean session, keep-alive 60")
    func connect311() throws {
        let packet = try decodeOne(bytes("10 0C 00 04 4D 51 54 54 04 02 00 3C 00 00"), version: nil)
        #expect(packet == .connect(MQTTConnect(protocolVersion: .v311, clientIdentifier: "", cleanStart: true, keepAlive: 60)))
    }

    @Test("3.1.1 CONNECT with a user name (the ThingsBoard access token)")
    func connectUsername() throws {
        let raw = "10 12 00 04 4D 51 54 54 04 82 00 1E 00 01 63 00 03 " + ascii("tok")
        let packet = try decodeOne(bytes(raw), version: nil)
        guard case .connect(let connect) = packet else { Issue.record("not CONNECT"); return }
        #expect(connect.username == "tok" && connect.clientIdentifier == "c" && connect.keepAlive == 30)
        #expect(encode(.connect(connect), .v311) == Array(bytes(raw).readableBytesView))
    }

    @Test("5.0 CONNECT with properties and a Will")
    func connect5() throws {
        var properties = MQTTProperties()
        properties.append(.sessionExpiryInterval, .fourByteInteger(120))
        properties.append(.receiveMaximum, .twoByteInteger(20))
        properties.append(.userProperty, .stringPair("k", "v"))
        var willProperties = MQTTProperties()
        willProperties.append(.willDelayInterval, .fourByteInteger(5))
        let connect = MQTTConnect(
            protocolVersion: .v5, clientIdentifier: "dev", cleanStart: false, keepAlive: 10, username: "token",
            password: ByteBuffer(string: "pw"),
            will: .init(topic: "v1/devices/me/telemetry", payload: ByteBuffer(string: "{}"), qos: .atLeastOnce, retain: true, properties: willProperties),
            properties: properties)
        let encoded = encode(.connect(connect), .v5)
        // Connect Flags: user, password, will retain, will QoS 1, will; not clean.
        #expect(encoded[9] == 0b1110_1100)
        #expect(try decodeOne(ByteBuffer(bytes: encoded), version: nil) == .connect(connect))
    }

    @Test("CONNACK: 3.1.1 return code, 5.0 reason code and properties")
    func connAck() throws {
        #expect(encode(.connAck(MQTTConnAck(reasonCode: .notAuthorized)), .v311) == [0x20, 0x02, 0x00, 0x05])
        #expect(encode(.connAck(MQTTConnAck(reasonCode: .serverUnavailable)), .v311) == [0x20, 0x02, 0x00, 0x03])
        #expect(encode(.connAck(MQTTConnAck(reasonCode: .notAuthorized)), .v5) == [0x20, 0x03, 0x00, 0x87, 0x00])
        var properties = MQTTProperties()
        properties.append(.receiveMaximum, .twoByteInteger(100))
        properties.append(.topicAliasMaximum, .twoByteInteger(10))
        let ack = MQTTConnAck(sessionPresent: true, reasonCode: .success, properties: properties)
        let encoded = encode(.connAck(ack), .v5)
        #expect(encoded == [0x20, 0x09, 0x01, 0x00, 0x06, 0x21, 0x00, 0x64, 0x22, 0x00, 0x0A])
        #expect(try decodeOne(ByteBuffer(bytes: encoded), version: .v5) == .connAck(ack))
    }

    @Test("PUBLISH QoS 1 and its PUBACK")
    func publish() throws {
        let expected = MQTTPublish(topic: "a/b", payload: ByteBuffer(string: "{}"), qos: .atLeastOnce, packetIdentifier: 10)
        // Remaining length: 2 + 3 + 2 + 2 = 9.
        let exact = try decodeOne(bytes("32 09 00 03 " + ascii("a/b") + " 00 0A " + ascii("{}")))
        #expect(exact == .publish(expected))
        #expect(encode(.publish(expected), .v311) == Array(bytes("32 09 00 03 " + ascii("a/b") + " 00 0A " + ascii("{}")).readableBytesView))
        #expect(encode(.pubAck(MQTTPublishAck(packetIdentifier: 10)), .v311) == [0x40, 0x02, 0x00, 0x0A])
        #expect(encode(.pubAck(MQTTPublishAck(packetIdentifier: 10)), .v5) == [0x40, 0x02, 0x00, 0x0A])
        #expect(encode(.pubAck(MQTTPublishAck(packetIdentifier: 10, reasonCode: .quotaExceeded)), .v5) == [0x40, 0x03, 0x00, 0x0A, 0x97])
    }

    @Test("a PUBLISH written directly has the bytes of the encoded packet (3.1.1 and 5.0, QoS 0 and 1)")
    func publishWrittenDirectly() throws {
        let payload = Array(#"{"seq":1}"#.utf8)
        for version in [MQTTProtocolVersion.v311, .v5] {
            for (qos, identifier) in [(MQTTQoS.atMostOnce, UInt16?.none), (.atLeastOnce, 7), (.exactlyOnce, 65_535)] {
                var direct = ByteBuffer()
                try MQTTPublish.write(topic: "v1/devices/me/telemetry", qos: qos, packetIdentifier: identifier, payload: payload, version: version, to: &direct)
                let packet = MQTTPacket.publish(
                    MQTTPublish(topic: "v1/devices/me/telemetry", payload: ByteBuffer(bytes: payload), qos: qos, packetIdentifier: identifier))
                #expect(Array(direct.readableBytesView) == encode(packet, version), "\(version) \(qos)")
            }
        }
        // A payload past 127 bytes takes a two-byte remaining length.
        var long = ByteBuffer()
        try MQTTPublish.write(topic: "t", qos: .atMostOnce, packetIdentifier: nil, payload: Array(repeating: 0x41, count: 200), version: .v311, to: &long)
        #expect(Array(long.readableBytesView.prefix(3)) == [0x30, 0xCB, 0x01])
    }

    @Test("5.0 PUBLISH with a Topic Alias and an empty topic")
    func topicAlias() throws {
        let packet = try decodeOne(bytes("30 06 00 00 03 23 00 01"), version: .v5)
        guard case .publish(let publish) = packet else { Issue.record("not PUBLISH"); return }
        #expect(publish.topic.isEmpty && publish.properties.integer(.topicAlias) == 1 && publish.payload.readableBytes == 0)
    }

    @Test("QoS 2 flow packets, SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PING, DISCONNECT")
    func others() throws {
        #expect(try decodeOne(bytes("50 02 00 07")) == .pubRec(MQTTPublishAck(packetIdentifier: 7)))
        #expect(try decodeOne(bytes("62 02 00 07")) == .pubRel(MQTTPublishAck(packetIdentifier: 7)))
        #expect(try decodeOne(bytes("70 02 00 07")) == .pubComp(MQTTPublishAck(packetIdentifier: 7)))
        #expect(encode(.pubRel(MQTTPublishAck(packetIdentifier: 7)), .v311) == [0x62, 0x02, 0x00, 0x07])
        let subscribe = "82 0A 00 01 00 05 " + ascii("a/b/+") + " 01"
        #expect(try decodeOne(bytes(subscribe)) == .subscribe(MQTTSubscribe(
            packetIdentifier: 1, subscriptions: [.init(topicFilter: "a/b/+", qos: .atLeastOnce)])))
        #expect(encode(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .unspecifiedError])), .v311)
            == [0x90, 0x04, 0x00, 0x01, 0x01, 0x80])
        #expect(encode(.subAck(MQTTSubAck(packetIdentifier: 1, reasonCodes: [.topicFilterInvalid])), .v5)
            == [0x90, 0x04, 0x00, 0x01, 0x00, 0x8F])
        #expect(try decodeOne(bytes("A2 05 00 02 00 01 " + ascii("x"))) == .unsubscribe(MQTTUnsubscribe(packetIdentifier: 2, topicFilters: ["x"])))
        #expect(encode(.unsubAck(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.success])), .v311) == [0xB0, 0x02, 0x00, 0x02])
        #expect(encode(.unsubAck(MQTTSubAck(packetIdentifier: 2, reasonCodes: [.success])), .v5) == [0xB0, 0x04, 0x00, 0x02, 0x00, 0x00])
        #expect(try decodeOne(bytes("C0 00")) == .pingReq)
        #expect(encode(.pingResp, .v5) == [0xD0, 0x00])
        #expect(try decodeOne(bytes("E0 00"), version: .v5) == .disconnect(MQTTDisconnect()))
        #expect(encode(.disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)), .v5) == [0xE0, 0x02, 0x8D, 0x00])
        #expect(encode(.disconnect(MQTTDisconnect(reasonCode: .keepAliveTimeout)), .v311) == [0xE0, 0x00])
        #expect(try decodeOne(bytes("F0 02 18 00"), version: .v5) == .auth(MQTTAuth(reasonCode: MQTTReasonCode(rawValue: 0x18))))
    }

    @Test("every packet round-trips on both protocol levels", arguments: [MQTTProtocolVersion.v311, .v5])
    func roundTrips(version: MQTTProtocolVersion) throws {
        var properties = MQTTProperties()
        if version == .v5 { properties.append(.reasonString, .string("why")) }
        var publishProperties = MQTTProperties()
        if version == .v5 { publishProperties.append(.contentType, .string("application/json")) }
        var packets: [MQTTPacket] = [
            .connAck(MQTTConnAck(sessionPresent: true)),
            .publish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, retain: true, duplicate: true, packetIdentifier: 9, properties: publishProperties)),
            .publish(MQTTPublish(topic: "t/u", payload: ByteBuffer(), qos: .atMostOnce)),
            .pubAck(MQTTPublishAck(packetIdentifier: 1)),
            .pubRec(MQTTPublishAck(packetIdentifier: 2)),
            .pubRel(MQTTPublishAck(packetIdentifier: 3)),
            .pubComp(MQTTPublishAck(packetIdentifier: 4)),
            .subscribe(MQTTSubscribe(packetIdentifier: 5, subscriptions: [.init(topicFilter: "a/#", qos: .exactlyOnce), .init(topicFilter: "+", qos: .atMostOnce)])),
            .subAck(MQTTSubAck(packetIdentifier: 5, reasonCodes: [.grantedQoS2, .success], properties: properties)),
            .unsubscribe(MQTTUnsubscribe(packetIdentifier: 6, topicFilters: ["a/#"])),
            .pingReq, .pingResp,
            .disconnect(MQTTDisconnect()),
        ]
        if version == .v5 {
            packets += [
                .pubAck(MQTTPublishAck(packetIdentifier: 1, reasonCode: .notAuthorized, properties: properties)),
                .unsubAck(MQTTSubAck(packetIdentifier: 6, reasonCodes: [.noSubscriptionExisted])),
                .disconnect(MQTTDisconnect(reasonCode: .serverShuttingDown, properties: properties)),
                .auth(MQTTAuth(reasonCode: MQTTReasonCode(rawValue: 0x18), properties: MQTTProperties([(.authenticationMethod, .string("m"))]))),
            ]
        }
        for packet in packets {
            let encoded = encode(packet, version)
            #expect(try decodeOne(ByteBuffer(bytes: encoded), version: version) == packet, "\(packet)")
            // Every shorter prefix is "not yet complete", never an error.
            for length in 0..<encoded.count {
                #expect(try decodeOne(ByteBuffer(bytes: encoded.prefix(length)), version: version) == nil)
            }
        }
    }
}

@Suite("MQTT codec: malformed input gives a typed error")
struct MQTTMalformedTests {
    static let cases: [(String, String, MQTTProtocolVersion?, MQTTCodecError)] = [
        ("Remaining Length of five bytes", "30 FF FF FF FF 7F", .v311, .malformedRemainingLength),
        ("HTTP bytes, refused from the first byte", "47 45 54", nil, .invalidFlags(packetType: 4, flags: 7)),
        ("a PINGREQ before CONNECT, refused from its first byte", "C0", nil, .protocolViolation("the first packet must be CONNECT")),
        ("packet type 0", "00 00", .v311, .invalidPacketType(0)),
        ("AUTH on 3.1.1", "F0 00", .v311, .invalidPacketType(15)),
        ("PUBLISH with QoS 3", "36 05 00 01 " + ascii("t") + " 00 01", .v311, .invalidQoS),
        ("SUBSCRIBE with flags 0", "80 06 00 01 00 01 " + ascii("t") + " 00", .v311, .invalidFlags(packetType: 8, flags: 0)),
        ("PUBACK with flags", "41 02 00 01", .v311, .invalidFlags(packetType: 4, flags: 1)),
        ("PUBACK with packet id 0", "40 02 00 00", .v311, .zeroPacketIdentifier),
        ("PUBLISH QoS 1 with packet id 0", "32 05 00 01 " + ascii("t") + " 00 00", .v311, .zeroPacketIdentifier),
        ("CONNECT with the reserved flag", "10 0C 00 04 4D 51 54 54 04 03 00 3C 00 00", nil, .malformedPacket("reserved Connect Flag set")),
        ("CONNECT of MQTT 3.1 (MQIsdp)", "10 0E 00 06 " + ascii("MQIsdp") + " 03 02 00 3C 00 00", nil, .unsupportedProtocol(name: "MQIsdp", level: 3)),
        ("CONNECT level 6", "10 0C 00 04 4D 51 54 54 06 02 00 3C 00 00", nil, .unsupportedProtocol(name: "MQTT", level: 6)),
        ("3.1.1 CONNECT with a password but no user name", "10 0F 00 04 4D 51 54 54 04 42 00 3C 00 00 00 01 " + ascii("p"), nil,
         .malformedPacket("Password Flag without User Name Flag")),
        ("Will QoS without a Will", "10 0C 00 04 4D 51 54 54 04 0A 00 3C 00 00", nil, .malformedPacket("Will QoS or Retain without a Will")),
        ("CONNECT whose fields run past its length", "10 0B 00 04 4D 51 54 54 04 02 00 3C 00", nil, .malformedPacket("Client Identifier missing")),
        ("invalid UTF-8 in a topic", "30 05 00 02 C0 AF 78", .v311, .invalidUTF8),
        ("U+0000 in a topic", "30 04 00 02 61 00", .v311, .invalidUTF8),
        ("a wildcard in a PUBLISH topic", "30 05 00 03 " + ascii("a/#"), .v311, .invalidTopic("wildcard in a topic name")),
        ("'#' not last in a filter", "82 0A 00 01 00 05 " + ascii("a/#/b") + " 00", .v311, .invalidTopic("'#' must be the whole last level")),
        ("'+' inside a level", "82 08 00 01 00 03 " + ascii("a+b") + " 00", .v311, .invalidTopic("'+' must be a whole level")),
        ("SUBSCRIBE without filters", "82 02 00 01", .v311, .malformedPacket("SUBSCRIBE without a topic filter")),
        ("3.1.1 subscription options with reserved bits", "82 06 00 01 00 01 " + ascii("t") + " 04", .v311, .malformedPacket("reserved Subscription Options bits set")),
        ("bytes left over in PINGREQ", "C0 01 00", .v311, .malformedPacket("1 bytes left over")),
        ("an unknown 5.0 property", "30 05 00 01 " + ascii("t") + " 01 7F", .v5, .invalidProperty("unknown identifier 0x7f")),
        ("a property not allowed in PUBLISH", "30 07 00 01 " + ascii("t") + " 03 21 00 05", .v5, .invalidProperty("0x21 is not allowed in publish")),
        ("a duplicate property", "30 0A 00 01 " + ascii("t") + " 06 23 00 01 23 00 02", .v5, .invalidProperty("0x23 appears twice")),
        ("properties past the packet", "30 05 00 01 " + ascii("t") + " 09 01", .v5, .malformedPacket("properties run past the packet")),
        ("Receive Maximum of 0 in CONNECT", "10 10 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 00", nil, .invalidProperty("Receive Maximum of 0")),
    ]

    @Test("refused with the right error", arguments: cases)
    func malformed(name: String, hex: String, version: MQTTProtocolVersion?, expected: MQTTCodecError) {
        #expect(throws: expected, "\(name)") { try decodeOne(bytes(hex), version: version) }
    }

    @Test("an oversize packet is refused from its fixed header, before it is buffered")
    func tooLarge() {
        // Only the fixed header of a 1 MiB PUBLISH has arrived.
        var buffer = bytes("30 80 80 40")
        #expect(throws: MQTTCodecError.packetTooLarge(size: 1_048_580, limit: 65_536)) {
            try MQTTPacket.read(from: &buffer, version: .v311, maximumPacketSize: 65_536)
        }
    }

    @Test("errors map to DISCONNECT reason codes")
    func reasonCodes() {
        #expect(MQTTCodecError.malformedRemainingLength.reasonCode == .malformedPacket)
        #expect(MQTTCodecError.packetTooLarge(size: 2, limit: 1).reasonCode == .packetTooLarge)
        #expect(MQTTCodecError.protocolViolation("x").reasonCode == .protocolError)
        #expect(MQTTCodecError.invalidTopic("x").reasonCode == .topicNameInvalid)
    }

    @Test("random bytes never crash the decoder", arguments: 0..<4)
    func fuzz(seed: Int) {
        var generator = SplitMix64(seed: UInt64(seed))
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<64, using: &generator)
            var buffer = ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
            for version in [MQTTProtocolVersion?.none, .v311, .v5] {
                var copy = buffer
                _ = try? MQTTPacket.read(from: &copy, version: version, maximumPacketSize: 1024)
            }
            buffer.clear()
        }
    }
}

@Suite("MQTT codec: what cannot be encoded is refused, never a trap")
struct MQTTEncodingLimitTests {
    /// A device chose a request id that made the reply topic 65,536 bytes;
    /// writeMQTTString's UInt16 conversion trapped.
    @Test("a topic of 65,536 bytes throws and writes nothing; 65,535 bytes is written", arguments: [MQTTProtocolVersion.v311, .v5])
    func longTopic(version: MQTTProtocolVersion) throws {
        var buffer = ByteBuffer(string: "kept")
        let tooLong = MQTTPacket.publish(MQTTPublish(topic: String(repeating: "a", count: 65_536), payload: ByteBuffer(string: "{}"), qos: .atMostOnce))
        #expect(throws: MQTTCodecError.valueTooLong(field: "topic name", length: 65_536)) { try tooLong.write(to: &buffer, version: version) }
        #expect(String(buffer: buffer) == "kept")
        let longest = MQTTPacket.publish(MQTTPublish(topic: String(repeating: "a", count: 65_535), payload: ByteBuffer(string: "{}"), qos: .atMostOnce))
        var written = ByteBuffer()
        try longest.write(to: &written, version: version)
        #expect(try decodeOne(written, version: version) == longest)
        #expect(throws: MQTTCodecError.valueTooLong(field: "topic name", length: 70_000)) {
            var direct = ByteBuffer()
            try MQTTPublish.write(topic: String(repeating: "b", count: 70_000), qos: .atMostOnce, packetIdentifier: nil, payload: [], version: version, to: &direct)
        }
    }

    @Test("strings in CONNECT, SUBSCRIBE and properties, and a Remaining Length past four bytes, throw")
    func otherFields() {
        let long = String(repeating: "x", count: 65_536)
        var buffer = ByteBuffer()
        let connect = MQTTPacket.connect(MQTTConnect(protocolVersion: .v311, clientIdentifier: long, cleanStart: true, keepAlive: 60))
        #expect(throws: MQTTCodecError.valueTooLong(field: "client identifier", length: 65_536)) { try connect.write(to: &buffer, version: .v311) }
        let subscribe = MQTTPacket.unsubscribe(MQTTUnsubscribe(packetIdentifier: 1, topicFilters: [long]))
        #expect(throws: MQTTCodecError.valueTooLong(field: "topic filter", length: 65_536)) { try subscribe.write(to: &buffer, version: .v5) }
        var properties = MQTTProperties()
        properties.append(.reasonString, .string(long))
        let disconnect = MQTTPacket.disconnect(MQTTDisconnect(reasonCode: .serverBusy, properties: properties))
        #expect(throws: MQTTCodecError.valueTooLong(field: "property", length: 65_536)) { try disconnect.write(to: &buffer, version: .v5) }
        #expect(buffer.readableBytes == 0)
        #expect(throws: MQTTCodecError.packetTooLarge(size: mqttMaximumRemainingLength + 1, limit: mqttMaximumRemainingLength)) {
            try buffer.writeMQTTVariableInteger(mqttMaximumRemainingLength + 1)
        }
    }
}

@Suite("MQTT codec: stream framing")
struct MQTTFramingTests {
    @Test("ByteToMessageDecoderVerifier: byte by byte and all at once")
    func verifier() throws {
        var stream = bytes("32 09 00 03 " + ascii("a/b") + " 00 0A " + ascii("{}"))
        stream.writeImmutableBuffer(bytes("C0 00"))
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (stream, [
                    .publish(MQTTPublish(topic: "a/b", payload: ByteBuffer(string: "{}"), qos: .atLeastOnce, packetIdentifier: 10)),
                    .pingReq,
                ]),
                (bytes("62 02 00 07"), [.pubRel(MQTTPublishAck(packetIdentifier: 7))]),
            ],
            decoderFactory: { MQTTPacketDecoder(maximumPacketSize: 1024, version: .v311) })
    }

    @Test("the decoder takes CONNECT first and only once")
    func connectFirst() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: 1024)))
        #expect(throws: MQTTCodecError.protocolViolation("the first packet must be CONNECT")) {
            try channel.writeInbound(bytes("C0 00"))
        }
        let second = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: 1024)))
        try second.writeInbound(bytes("10 0D 00 04 4D 51 54 54 05 02 00 3C 00 00 00"))
        guard case .connect(let connect) = try second.readInbound(as: MQTTPacket.self) else { Issue.record("no CONNECT"); return }
        #expect(connect.protocolVersion == .v5)
        #expect(throws: MQTTCodecError.protocolViolation("second CONNECT")) {
            try second.writeInbound(bytes("10 0D 00 04 4D 51 54 54 05 02 00 3C 00 00 00"))
        }
    }

    @Test("the server's framer gives the same packets however the stream is split, and holds only a split packet's bytes")
    func framerSplits() throws {
        var stream = bytes("10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 " + ascii("c"))  // CONNECT 3.1.1, client id "c"
        stream.writeImmutableBuffer(bytes("30 07 00 03 " + ascii("a/b") + " " + ascii("{}")))  // QoS 0
        // QoS 1 with a 200-byte payload: a two-byte Remaining Length, split in some runs.
        let payload = String(repeating: "x", count: 200)
        stream.writeImmutableBuffer(bytes("32 CF 01 00 03 " + ascii("a/b") + " 00 0A " + ascii(payload)))
        stream.writeImmutableBuffer(bytes("C0 00 E0 00"))  // PINGREQ, DISCONNECT
        var whole = MQTTPacketFramer(maximumPacketSize: 1024)
        var all = stream
        var expected: [MQTTPacket] = []
        while let packet = try whole.next(from: &all) { expected.append(packet) }
        #expect(expected.count == 5 && whole.heldBytes == 0 && whole.version == .v311)
        #expect(expected[2] == .publish(MQTTPublish(topic: "a/b", payload: ByteBuffer(string: payload), qos: .atLeastOnce, packetIdentifier: 10)))

        // Two reads split at every position, then three at every pair of a coarser grid, then a byte at a time.
        func decode(_ cuts: [Int]) throws -> [MQTTPacket] {
            var framer = MQTTPacketFramer(maximumPacketSize: 1024)
            var packets: [MQTTPacket] = []
            var start = 0
            for end in cuts + [stream.readableBytes] where end > start {
                var read = stream.getSlice(at: start, length: end - start)!
                while let packet = try framer.next(from: &read) { packets.append(packet) }
                #expect(read.readableBytes == 0)
                // Held: the bytes of the one packet still open, never more.
                #expect(framer.heldBytes <= 3 + 2 + 3 + 2 + 200)
                start = end
            }
            #expect(framer.heldBytes == 0)
            return packets
        }
        for cut in 0...stream.readableBytes { #expect(try decode([cut]) == expected) }
        for first in stride(from: 1, to: stream.readableBytes, by: 7) {
            for second in stride(from: first, to: stream.readableBytes, by: 11) { #expect(try decode([first, second]) == expected) }
        }
        #expect(try decode(Array(1..<stream.readableBytes)) == expected)
    }

    @Test("the server's framer refuses what its decoder refuses: not CONNECT first, oversize before it arrives, a bad length")
    func framerErrors() throws {
        var framer = MQTTPacketFramer(maximumPacketSize: 1024)
        var ping = bytes("C0 00")
        #expect(throws: MQTTCodecError.protocolViolation("the first packet must be CONNECT")) { try framer.next(from: &ping) }

        // 10,000 bytes announced: refused from the header, nothing held.
        var large = MQTTPacketFramer(maximumPacketSize: 1024, version: .v311)
        var header = bytes("30 90 4E 00")
        #expect(throws: MQTTCodecError.packetTooLarge(size: 10_003, limit: 1024)) { try large.next(from: &header) }
        #expect(large.heldBytes == 0)
        // The same announced across two reads: refused once the length is complete.
        var split = MQTTPacketFramer(maximumPacketSize: 1024, version: .v311)
        var first = bytes("30 90")
        #expect(try split.next(from: &first) == nil && split.heldBytes == 2)
        var rest = bytes("4E 00 03")
        #expect(throws: MQTTCodecError.packetTooLarge(size: 10_003, limit: 1024)) { try split.next(from: &rest) }

        var malformed = MQTTPacketFramer(maximumPacketSize: 1 << 30, version: .v311)
        var length = bytes("30 FF FF FF FF 01")
        #expect(throws: MQTTCodecError.malformedRemainingLength) { try malformed.next(from: &length) }

        var twice = MQTTPacketFramer(maximumPacketSize: 1024)
        var connects = bytes("10 0D 00 04 4D 51 54 54 05 02 00 3C 00 00 00")
        connects.writeImmutableBuffer(connects)
        guard case .connect = try twice.next(from: &connects) else { Issue.record("no CONNECT"); return }
        #expect(twice.version == .v5)
        #expect(throws: MQTTCodecError.protocolViolation("second CONNECT")) { try twice.next(from: &connects) }
    }

    @Test("topic filter matching", arguments: [
        ("v1/devices/me/rpc/request/+", "v1/devices/me/rpc/request/42", true),
        ("v1/devices/me/rpc/request/+", "v1/devices/me/rpc/request/42/x", false),
        ("v1/devices/me/#", "v1/devices/me", true),
        ("#", "$SYS/x", false),
        ("v1/devices/me/attributes", "v1/devices/me/attributes", true),
    ])
    func matching(filter: String, topic: String, matches: Bool) {
        #expect(MQTTTopic.matches(filter: filter, topic: topic) == matches)
    }
}
