import NIOCore

extension MQTTPacket {
    /// Reads one packet from the front of `buffer`.
    ///
    /// Returns nil, without moving the reader index, when the packet is not
    /// complete yet. The size limit is checked from the fixed header, before
    /// the packet is buffered. `version` is nil until CONNECT told it.
    package static func read(
        from buffer: inout ByteBuffer,
        version: MQTTProtocolVersion?,
        maximumPacketSize: Int = mqttMaximumRemainingLength + 5
    ) throws(MQTTCodecError) -> MQTTPacket? {
        guard let frame = try frame(in: buffer, version: version, maximumPacketSize: maximumPacketSize),
            buffer.readableBytes >= frame.total
        else { return nil }
        let first = buffer.readInteger(as: UInt8.self)!
        buffer.moveReaderIndex(forwardBy: frame.header - 1)
        var body = buffer.readSlice(length: frame.total - frame.header)!
        let packet = try decode(type: first >> 4, flags: first & 0x0F, body: &body, version: version)
        guard body.readableBytes == 0 else { throw .malformedPacket("\(body.readableBytes) bytes left over") }
        return packet
    }

    /// The fixed header's length and the whole packet's, from the front of
    /// `buffer`; nil while the Remaining Length is incomplete. Throws for a
    /// first byte that cannot start a packet and for a size over the limit,
    /// before the rest of the packet arrives.
    package static func frame(
        in buffer: ByteBuffer,
        version: MQTTProtocolVersion?,
        maximumPacketSize: Int
    ) throws(MQTTCodecError) -> (header: Int, total: Int)? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        // The first byte alone can be wrong: refuse it before waiting for the
        // rest, so bytes that are not MQTT are dropped at once.
        try validateFixedHeader(type: first >> 4, flags: first & 0x0F, version: version)
        // Remaining Length: 1-4 bytes (MQTT 3.1.1 §2.2.3).
        var remaining = 0
        var multiplier = 1
        var headerLength = 1
        while true {
            guard let byte = buffer.getInteger(at: buffer.readerIndex + headerLength, as: UInt8.self) else { return nil }
            headerLength += 1
            remaining += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { break }
            guard headerLength < 5 else { throw .malformedRemainingLength }
            multiplier *= 128
        }
        let total = headerLength + remaining
        guard total <= maximumPacketSize else { throw .packetTooLarge(size: total, limit: maximumPacketSize) }
        return (headerLength, total)
    }

    /// Learns the protocol level from CONNECT; a second CONNECT is a
    /// protocol violation (MQTT-3.1.0-2). A packet other than CONNECT
    /// before CONNECT is refused by `read` from its first byte.
    package static func learnVersion(from packet: MQTTPacket, into version: inout MQTTProtocolVersion?) throws(MQTTCodecError) {
        guard case .connect(let connect) = packet else { return }
        guard version == nil else { throw .protocolViolation("second CONNECT") }
        version = connect.protocolVersion
    }

    private static func validateFixedHeader(type: UInt8, flags: UInt8, version: MQTTProtocolVersion?) throws(MQTTCodecError) {
        guard type != 0 else { throw .invalidPacketType(0) }
        // Reserved flags (MQTT-2.2.2-1/2): PUBLISH has its own, PUBREL,
        // SUBSCRIBE and UNSUBSCRIBE are 0b0010, everything else 0.
        let expectedFlags: UInt8? =
            switch type {
            case 3: nil
            case 6, 8, 10: 0b0010
            default: 0
            }
        if let expectedFlags, flags != expectedFlags { throw .invalidFlags(packetType: type, flags: flags) }
        if type == 3, flags & 0x06 == 0x06 { throw .invalidQoS }
        if type != 1, version == nil { throw .protocolViolation("the first packet must be CONNECT") }
        if type == 15, version == .v311 { throw .invalidPacketType(15) }
    }

    private static func decode(
        type: UInt8,
        flags: UInt8,
        body: inout ByteBuffer,
        version: MQTTProtocolVersion?
    ) throws(MQTTCodecError) -> MQTTPacket {
        if type == 1 { return .connect(try MQTTConnect.read(from: &body)) }
        guard let version else { throw .protocolViolation("the first packet must be CONNECT") }
        let v5 = version == .v5
        switch type {
        case 2: return .connAck(try MQTTConnAck.read(from: &body, v5: v5))
        case 3: return .publish(try MQTTPublish.read(from: &body, flags: flags, v5: v5))
        case 4: return .pubAck(try MQTTPublishAck.read(from: &body, v5: v5))
        case 5: return .pubRec(try MQTTPublishAck.read(from: &body, v5: v5))
        case 6: return .pubRel(try MQTTPublishAck.read(from: &body, v5: v5))
        case 7: return .pubComp(try MQTTPublishAck.read(from: &body, v5: v5))
        case 8: return .subscribe(try MQTTSubscribe.read(from: &body, v5: v5))
        case 9: return .subAck(try MQTTSubAck.read(from: &body, v5: v5, context: .suback, codesOn311: true))
        case 10: return .unsubscribe(try MQTTUnsubscribe.read(from: &body, v5: v5))
        case 11: return .unsubAck(try MQTTSubAck.read(from: &body, v5: v5, context: .unsuback, codesOn311: false))
        case 12: return .pingReq
        case 13: return .pingResp
        case 14: return .disconnect(try MQTTDisconnect.read(from: &body, v5: v5))
        case 15:
            guard v5 else { throw .invalidPacketType(15) }
            return .auth(try MQTTAuth.read(from: &body))
        default: throw .invalidPacketType(type)
        }
    }
}

extension MQTTConnect {
    static func read(from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTConnect {
        let name = try body.readMQTTString("Protocol Name")
        let level = try body.readMQTTByte("Protocol Level")
        guard name == "MQTT", let version = MQTTProtocolVersion(rawValue: level) else {
            throw .unsupportedProtocol(name: name, level: level)
        }
        let flags = try body.readMQTTByte("Connect Flags")
        // MQTT-3.1.2-3: the reserved flag is 0.
        guard flags & 0x01 == 0 else { throw .malformedPacket("reserved Connect Flag set") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else { throw .invalidQoS }
        // MQTT-3.1.2-11/13/15: no Will, then Will QoS and Retain are 0.
        if !hasWill, willQoSBits != 0 || willRetain { throw .malformedPacket("Will QoS or Retain without a Will") }
        // MQTT-3.1.2-22 (3.1.1 only): a password needs a user name.
        if version == .v311, hasPassword, !hasUsername { throw .malformedPacket("Password Flag without User Name Flag") }
        let keepAlive = try body.readMQTTUInt16("Keep Alive")
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, context: .connect) : MQTTProperties()
        let clientIdentifier = try body.readMQTTString("Client Identifier")
        var will: Will?
        if hasWill {
            let willProperties = version == .v5 ? try MQTTProperties.read(from: &body, context: .will) : MQTTProperties()
            let topic = try body.readMQTTString("Will Topic")
            try MQTTTopic.validateName(topic)
            let payload = try body.readMQTTBinary("Will Payload")
            will = Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTString("User Name") : nil
        let password = hasPassword ? try body.readMQTTBinary("Password") : nil
        return MQTTConnect(
            protocolVersion: version, clientIdentifier: clientIdentifier, cleanStart: flags & 0x02 != 0,
            keepAlive: keepAlive, username: username, password: password, will: will, properties: properties)
    }
}

extension MQTTConnAck {
    static func read(from body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> MQTTConnAck {
        let flags = try body.readMQTTByte("Connect Acknowledge Flags")
        guard flags & 0xFE == 0 else { throw .malformedPacket("reserved CONNACK flags set") }
        let code = try body.readMQTTByte("Reason Code")
        let reason: MQTTReasonCode
        if v5 {
            reason = MQTTReasonCode(rawValue: code)
        } else {
            // 3.1.1 return codes 0-5 (§3.2.2.3), kept as their 5.0 equivalents.
            let table: [MQTTReasonCode] = [.success, .unsupportedProtocolVersion, .clientIdentifierNotValid,
                                           .serverUnavailable, .badUserNameOrPassword, .notAuthorized]
            guard Int(code) < table.count else { throw .malformedPacket("CONNACK return code \(code)") }
            reason = table[Int(code)]
        }
        let properties = v5 ? try MQTTProperties.read(from: &body, context: .connack) : MQTTProperties()
        return MQTTConnAck(sessionPresent: flags & 0x01 != 0, reasonCode: reason, properties: properties)
    }
}

extension MQTTPublish {
    static func read(from body: inout ByteBuffer, flags: UInt8, v5: Bool) throws(MQTTCodecError) -> MQTTPublish {
        guard let qos = MQTTQoS(rawValue: (flags >> 1) & 0x03) else { throw .invalidQoS }
        let duplicate = flags & 0x08 != 0
        // MQTT-3.3.1-2: DUP is 0 for QoS 0.
        if qos == .atMostOnce, duplicate { throw .malformedPacket("DUP set on a QoS 0 PUBLISH") }
        let topic = try body.readMQTTString("Topic Name")
        var packetIdentifier: UInt16?
        if qos != .atMostOnce {
            let identifier = try body.readMQTTUInt16("Packet Identifier")
            guard identifier != 0 else { throw .zeroPacketIdentifier }
            packetIdentifier = identifier
        }
        let properties = v5 ? try MQTTProperties.read(from: &body, context: .publish) : MQTTProperties()
        // A 5.0 PUBLISH may leave the topic empty when a Topic Alias stands for it.
        if !(v5 && topic.isEmpty && properties[.topicAlias] != nil) {
            try MQTTTopic.validateName(topic)
        }
        let payload = body.readSlice(length: body.readableBytes) ?? ByteBuffer()
        return MQTTPublish(
            topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, duplicate: duplicate,
            packetIdentifier: packetIdentifier, properties: properties)
    }
}

extension MQTTPublishAck {
    static func read(from body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> MQTTPublishAck {
        let identifier = try body.readMQTTUInt16("Packet Identifier")
        guard identifier != 0 else { throw .zeroPacketIdentifier }
        // 5.0 §3.4.2.1: with Remaining Length 2 the reason is Success and there are no properties.
        guard v5, body.readableBytes > 0 else { return MQTTPublishAck(packetIdentifier: identifier) }
        let reason = MQTTReasonCode(rawValue: try body.readMQTTByte("Reason Code"))
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, context: .puback) : MQTTProperties()
        return MQTTPublishAck(packetIdentifier: identifier, reasonCode: reason, properties: properties)
    }
}

extension MQTTSubscribe {
    static func read(from body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> MQTTSubscribe {
        let identifier = try body.readMQTTUInt16("Packet Identifier")
        guard identifier != 0 else { throw .zeroPacketIdentifier }
        let properties = v5 ? try MQTTProperties.read(from: &body, context: .subscribe) : MQTTProperties()
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString("Topic Filter")
            try MQTTTopic.validateFilter(filter)
            let options = try body.readMQTTByte("Subscription Options")
            // 3.1.1: the upper six bits are reserved (MQTT-3-8.3-4); 5.0: the
            // upper two, and Retain Handling 3 is a protocol error.
            guard options & (v5 ? 0xC0 : 0xFC) == 0 else { throw .malformedPacket("reserved Subscription Options bits set") }
            guard let qos = MQTTQoS(rawValue: options & 0x03) else { throw .invalidQoS }
            let retainHandling = (options >> 4) & 0x03
            guard retainHandling != 3 else { throw .malformedPacket("Retain Handling 3") }
            subscriptions.append(Subscription(
                topicFilter: filter, qos: qos, noLocal: options & 0x04 != 0,
                retainAsPublished: options & 0x08 != 0, retainHandling: retainHandling))
        }
        // MQTT-3.8.3-3: at least one subscription.
        guard !subscriptions.isEmpty else { throw .malformedPacket("SUBSCRIBE without a topic filter") }
        return MQTTSubscribe(packetIdentifier: identifier, subscriptions: subscriptions, properties: properties)
    }
}

extension MQTTSubAck {
    static func read(
        from body: inout ByteBuffer, v5: Bool, context: MQTTProperties.Context, codesOn311: Bool
    ) throws(MQTTCodecError) -> MQTTSubAck {
        let identifier = try body.readMQTTUInt16("Packet Identifier")
        guard identifier != 0 else { throw .zeroPacketIdentifier }
        let properties = v5 ? try MQTTProperties.read(from: &body, context: context) : MQTTProperties()
        var codes: [MQTTReasonCode] = []
        if v5 || codesOn311 {
            while body.readableBytes > 0 { codes.append(MQTTReasonCode(rawValue: try body.readMQTTByte("Reason Code"))) }
            guard !codes.isEmpty else { throw .malformedPacket("acknowledgement without reason codes") }
        }
        return MQTTSubAck(packetIdentifier: identifier, reasonCodes: codes, properties: properties)
    }
}

extension MQTTUnsubscribe {
    static func read(from body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> MQTTUnsubscribe {
        let identifier = try body.readMQTTUInt16("Packet Identifier")
        guard identifier != 0 else { throw .zeroPacketIdentifier }
        let properties = v5 ? try MQTTProperties.read(from: &body, context: .unsubscribe) : MQTTProperties()
        var filters: [String] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString("Topic Filter")
            try MQTTTopic.validateFilter(filter)
            filters.append(filter)
        }
        // MQTT-3.10.3-2: at least one filter.
        guard !filters.isEmpty else { throw .malformedPacket("UNSUBSCRIBE without a topic filter") }
        return MQTTUnsubscribe(packetIdentifier: identifier, topicFilters: filters, properties: properties)
    }
}

extension MQTTDisconnect {
    static func read(from body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> MQTTDisconnect {
        // 5.0 §3.14.2.1: Remaining Length 0 means Normal disconnection.
        guard v5, body.readableBytes > 0 else { return MQTTDisconnect() }
        let reason = MQTTReasonCode(rawValue: try body.readMQTTByte("Reason Code"))
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, context: .disconnect) : MQTTProperties()
        return MQTTDisconnect(reasonCode: reason, properties: properties)
    }
}

extension MQTTAuth {
    static func read(from body: inout ByteBuffer) throws(MQTTCodecError) -> MQTTAuth {
        guard body.readableBytes > 0 else { return MQTTAuth() }
        let reason = MQTTReasonCode(rawValue: try body.readMQTTByte("Reason Code"))
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, context: .auth) : MQTTProperties()
        return MQTTAuth(reasonCode: reason, properties: properties)
    }
}
