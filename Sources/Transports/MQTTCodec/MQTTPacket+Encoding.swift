import NIOCore

extension MQTTPacket {
    /// Appends the packet's bytes. A 3.1.1 peer gets no reason codes or
    /// properties; acknowledgements with Success and no properties use the
    /// short 5.0 forms (§3.4.2.1). A field too long for its length prefix
    /// (or a packet too long for four bytes of Remaining Length) throws
    /// before anything is appended to `buffer`.
    package func write(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTCodecError) {
        let v5 = version == .v5
        switch self {
        case .pubAck(let ack), .pubRec(let ack), .pubComp(let ack):
            if !v5 || (ack.reasonCode == .success && ack.properties.isEmpty) {
                buffer.writeInteger(typeCode << 4)
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(ack.packetIdentifier, endianness: .big)
                return
            }
        case .pubRel(let ack):
            if !v5 || (ack.reasonCode == .success && ack.properties.isEmpty) {
                buffer.writeInteger(typeCode << 4 | 0b0010)
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(ack.packetIdentifier, endianness: .big)
                return
            }
        case .pingReq, .pingResp:
            buffer.writeInteger(typeCode << 4)
            buffer.writeInteger(UInt8(0))
            return
        default:
            break
        }
        var body = ByteBufferAllocator().buffer(capacity: 64)
        let flags = try writeBody(to: &body, v5: v5)
        guard body.readableBytes <= mqttMaximumRemainingLength else {
            throw .packetTooLarge(size: body.readableBytes, limit: mqttMaximumRemainingLength)
        }
        buffer.writeInteger(typeCode << 4 | flags)
        try buffer.writeMQTTVariableInteger(body.readableBytes)
        buffer.writeBuffer(&body)
    }

    /// Writes everything after the fixed header; returns the fixed-header flags.
    private func writeBody(to body: inout ByteBuffer, v5: Bool) throws(MQTTCodecError) -> UInt8 {
        switch self {
        case .connect(let connect):
            try connect.write(to: &body)
            return 0
        case .connAck(let ack):
            body.writeInteger(UInt8(ack.sessionPresent ? 1 : 0))
            body.writeInteger(v5 ? ack.reasonCode.rawValue : ack.reasonCode.connectReturnCode311)
            if v5 { try ack.properties.write(to: &body) }
            return 0
        case .publish(let publish):
            try body.writeMQTTString(publish.topic, "topic name")
            if let identifier = publish.packetIdentifier { body.writeInteger(identifier, endianness: .big) }
            if v5 { try publish.properties.write(to: &body) }
            body.writeImmutableBuffer(publish.payload)
            return (publish.duplicate ? 0x08 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 0x01 : 0)
        case .pubAck(let ack), .pubRec(let ack), .pubComp(let ack), .pubRel(let ack):
            body.writeInteger(ack.packetIdentifier, endianness: .big)
            body.writeInteger(ack.reasonCode.rawValue)
            if !ack.properties.isEmpty { try ack.properties.write(to: &body) }
            if case .pubRel = self { return 0b0010 }
            return 0
        case .subscribe(let subscribe):
            body.writeInteger(subscribe.packetIdentifier, endianness: .big)
            if v5 { try subscribe.properties.write(to: &body) }
            for subscription in subscribe.subscriptions {
                try body.writeMQTTString(subscription.topicFilter, "topic filter")
                var options = subscription.qos.rawValue
                if v5 {
                    if subscription.noLocal { options |= 0x04 }
                    if subscription.retainAsPublished { options |= 0x08 }
                    options |= subscription.retainHandling << 4
                }
                body.writeInteger(options)
            }
            return 0b0010
        case .subAck(let ack):
            body.writeInteger(ack.packetIdentifier, endianness: .big)
            if v5 { try ack.properties.write(to: &body) }
            // 3.1.1 SUBACK return codes: 0-2 granted, 0x80 failure (§3.9.3).
            for code in ack.reasonCodes { body.writeInteger(v5 || !code.isFailure ? code.rawValue : 0x80) }
            return 0
        case .unsubscribe(let unsubscribe):
            body.writeInteger(unsubscribe.packetIdentifier, endianness: .big)
            if v5 { try unsubscribe.properties.write(to: &body) }
            for filter in unsubscribe.topicFilters { try body.writeMQTTString(filter, "topic filter") }
            return 0b0010
        case .unsubAck(let ack):
            body.writeInteger(ack.packetIdentifier, endianness: .big)
            if v5 {
                try ack.properties.write(to: &body)
                for code in ack.reasonCodes { body.writeInteger(code.rawValue) }
            }
            return 0
        case .pingReq, .pingResp:
            return 0
        case .disconnect(let disconnect):
            if v5, disconnect.reasonCode != .success || !disconnect.properties.isEmpty {
                body.writeInteger(disconnect.reasonCode.rawValue)
                try disconnect.properties.write(to: &body)
            }
            return 0
        case .auth(let auth):
            if auth.reasonCode != .success || !auth.properties.isEmpty {
                body.writeInteger(auth.reasonCode.rawValue)
                try auth.properties.write(to: &body)
            }
            return 0
        }
    }
}

extension MQTTConnect {
    func write(to body: inout ByteBuffer) throws(MQTTCodecError) {
        try body.writeMQTTString("MQTT")
        body.writeInteger(protocolVersion.rawValue)
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if let will {
            flags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0)
        }
        if password != nil { flags |= 0x40 }
        if username != nil { flags |= 0x80 }
        body.writeInteger(flags)
        body.writeInteger(keepAlive, endianness: .big)
        let v5 = protocolVersion == .v5
        if v5 { try properties.write(to: &body) }
        try body.writeMQTTString(clientIdentifier, "client identifier")
        if let will {
            if v5 { try will.properties.write(to: &body) }
            try body.writeMQTTString(will.topic, "will topic")
            try body.writeMQTTBinary(will.payload, "will payload")
        }
        if let username { try body.writeMQTTString(username, "user name") }
        if let password { try body.writeMQTTBinary(password, "password") }
    }
}

extension MQTTPublish {
    /// Appends a PUBLISH without properties straight to `buffer`: fixed
    /// header, topic, packet identifier, an empty property list on 5.0, and
    /// `payload`. The same bytes `MQTTPacket.publish(...).write(to:version:)`
    /// gives, without a `MQTTPublish`, a payload `ByteBuffer` or a body
    /// buffer per packet (a load generator writes hundreds of thousands).
    package static func write(
        topic: String, qos: MQTTQoS, packetIdentifier: UInt16?, payload: [UInt8], version: MQTTProtocolVersion, to buffer: inout ByteBuffer
    ) throws(MQTTCodecError) {
        let v5 = version == .v5
        let length = 2 + topic.utf8.count + (packetIdentifier == nil ? 0 : 2) + (v5 ? 1 : 0) + payload.count
        guard topic.utf8.count <= mqttMaximumFieldLength else { throw .valueTooLong(field: "topic name", length: topic.utf8.count) }
        guard length <= mqttMaximumRemainingLength else { throw .packetTooLarge(size: length, limit: mqttMaximumRemainingLength) }
        buffer.writeInteger(UInt8(3 << 4) | qos.rawValue << 1)
        try buffer.writeMQTTVariableInteger(length)
        try buffer.writeMQTTString(topic)
        if let packetIdentifier { buffer.writeInteger(packetIdentifier, endianness: .big) }
        if v5 { buffer.writeInteger(UInt8(0)) }
        buffer.writeBytes(payload)
    }
}
