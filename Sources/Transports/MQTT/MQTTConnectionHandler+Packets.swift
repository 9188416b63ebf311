import Logging
import Auth
import MQTTCodec
import NIOCore
import ProcessorAPI

extension MQTTConnectionHandler {
    /// Every packet after CONNECT.
    func handle(_ packet: MQTTPacket) {
        switch packet {
        case .publish(let publish): handlePublish(publish, packet: packet)
        case .pubRel(let release):
            // QoS 2, step 3: the client releases the id (MQTT-4.3.3).
            let known = exactlyOnceReceived.remove(release.packetIdentifier) != nil
            send(.pubComp(MQTTPublishAck(
                packetIdentifier: release.packetIdentifier, reasonCode: known || version == .v311 ? .success : .packetIdentifierNotFound)))
        case .pubAck, .pubRec, .pubComp:
            // Acknowledgements of what the server published; nothing is
            // retransmitted across connections, so nothing to release but
            // the note of which RPC request a PUBACK acknowledges.
            if case .pubRec(let received) = packet {
                send(.pubRel(MQTTPublishAck(packetIdentifier: received.packetIdentifier)))
            }
            if case .pubAck(let ack) = packet, let rpcId = rpcAwaitingAck.removeValue(forKey: ack.packetIdentifier), let device {
                shared.deviceSessions.rpcDelivered(deviceId: device.id, id: rpcId)
            }
        case .subscribe(let subscribe): handleSubscribe(subscribe)
        case .unsubscribe(let unsubscribe):
            let codes = unsubscribe.topicFilters.map { filter in
                subscriptions.removeValue(forKey: filter) != nil ? MQTTReasonCode.success : .noSubscriptionExisted
            }
            send(.unsubAck(MQTTSubAck(packetIdentifier: unsubscribe.packetIdentifier, reasonCodes: codes)))
        case .pingReq:
            send(.pingResp)
        case .disconnect:
            endReason = .normal
            close()
        case .connect:
            protocolError("second CONNECT")
        case .auth:
            // Enhanced authentication was not asked for in CONNECT (MQTT-4.12.0-1).
            protocolError("AUTH without an authentication method")
        case .connAck, .subAck, .unsubAck, .pingResp:
            protocolError("a server-to-client packet from the client")
        }
    }

    // MARK: PUBLISH

    private func handlePublish(_ incoming: MQTTPublish, packet: MQTTPacket) {
        guard let device else { return }
        var publish = incoming
        if publish.payload.readableBytes > shared.configuration.maxPayloadSize {
            metrics.dropped(.payloadTooLarge)
            logger.warning("MQTT payload over MAX_PAYLOAD_SIZE; closing", metadata: ["device_id": "\(device.id)"])
            endReason = .protocolError
            return disconnect(.packetTooLarge)
        }
        if version == .v5, let alias = publish.properties.integer(.topicAlias) {
            // MQTT 5.0 §3.3.2.3.4: 1...Topic Alias Maximum; an empty topic uses the mapping.
            guard alias >= 1, alias <= shared.configuration.topicAliasMaximum else {
                endReason = .protocolError
                return disconnect(.topicAliasInvalid)
            }
            if publish.topic.isEmpty {
                guard let topic = topicAliases[UInt16(alias)] else {
                    endReason = .protocolError
                    return disconnect(.protocolError)
                }
                publish.topic = topic
            } else {
                topicAliases[UInt16(alias)] = publish.topic
            }
        }
        // QoS 2 duplicate: already accepted, answer again and forward nothing (MQTT-4.3.3-10).
        if publish.qos == .exactlyOnce, let identifier = publish.packetIdentifier, exactlyOnceReceived.contains(identifier) {
            if !awaitingSink.contains(identifier) { send(.pubRec(MQTTPublishAck(packetIdentifier: identifier))) }
            return
        }
        guard let topic = ThingsBoardMQTTTopic(publishTopic: publish.topic) else {
            return refusePublish(publish, .topicNameInvalid, drop: .invalidPayload, log: "MQTT publish to a topic outside the device API")
        }
        switch topic {
        case .telemetry, .attributes:
            forward(publish, packet: packet, kind: topic == .telemetry ? .telemetry : .attributes, device: device)
        case .attributesRequest(let id):
            answerAttributeRequest(publish, id: id, device: device)
        case .rpcResponse(let id):
            forwardRPC(publish, packet: packet, kind: .rpcResponse, id: id, device: device)
        case .rpcRequest(let id):
            if isSessionLimitsRequest(publish.payload) {
                let reply = ThingsBoardMQTTTopic.rpcResponsePrefix + id
                guard reply.utf8.count <= mqttMaximumFieldLength else { return refuseUnanswerable(publish, replyTopic: reply) }
                acknowledgeLocally(publish)
                answerSessionLimits(id: id)
            } else {
                forwardRPC(publish, packet: packet, kind: .clientRPC, id: id, device: device)
            }
        }
    }

    /// Parses, rate-limits and hands a telemetry or attributes message to the processor.
    private func forward(_ publish: MQTTPublish, packet: MQTTPacket, kind: MessageKind, device: DeviceIdentity) {
        let receivedAt = EpochClock.nowMilliseconds()
        let entries: [TelemetryEntry]
        var attributes: [(key: String, json: String)] = []
        do {
            if kind == .attributes {
                let update = try ThingsBoardPayload.parseAttributes(publish.payload, receivedAt: receivedAt)
                entries = [update.entry]
                attributes = update.values
            } else {
                entries = try ThingsBoardPayload.parseTelemetry(publish.payload, receivedAt: receivedAt)
            }
        } catch {
            return refusePublish(publish, .payloadFormatInvalid, drop: .invalidPayload, log: "invalid MQTT payload: \(error)")
        }
        guard !attributes.isEmpty else {
            return submit(publish, packet: packet, kind: kind, entries: entries, receivedAt: receivedAt, device: device)
        }
        storeThenSubmit(publish, packet: packet, attributes: attributes, entries: entries, receivedAt: receivedAt, device: device)
    }

    /// Client attributes are stored first, so that a device past its quota
    /// is told (MQTT 5.0 PUBACK 0x97). Nothing more is read meanwhile: the
    /// packets after this one are handled, and acknowledged, in order.
    private func storeThenSubmit(
        _ publish: MQTTPublish,
        packet: MQTTPacket,
        attributes: [(key: String, json: String)],
        entries: [TelemetryEntry],
        receivedAt: Int64,
        device: DeviceIdentity
    ) {
        guard let eventLoop = context?.eventLoop else { return }
        storingAttributes = true
        updateReading()
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let registry = shared.registry
        Task {
            let failure: RegistryError?
            do throws(RegistryError) {
                try await registry.setAttributes(deviceId: device.id, scope: .client, attributes)
                failure = nil
            } catch {
                failure = error
            }
            handler.eventLoop.execute {
                let handler = handler.value
                handler.storingAttributes = false
                switch failure {
                case nil:
                    handler.submit(publish, packet: packet, kind: .attributes, entries: entries, receivedAt: receivedAt, device: device)
                case .quotaExceeded(let reason)?:
                    handler.refusePublish(publish, .quotaExceeded, drop: .quotaExceeded, log: "MQTT device over its client-attribute quota: \(reason)")
                case let error?:
                    handler.metrics.error(.registry)
                    handler.refusePublish(publish, .unspecifiedError, drop: nil, log: "storing client attributes failed: \(error)")
                }
                handler.drainBacklog()
            }
        }
    }

    /// Hands a message to the processor with a completion that answers the
    /// client (PUBACK or PUBREC) when the sink has it.
    func submit(
        _ publish: MQTTPublish,
        packet: MQTTPacket,
        kind: MessageKind,
        entries: [TelemetryEntry],
        receivedAt: Int64,
        device: DeviceIdentity,
        onAccepted: () -> Void = {}
    ) {
        if let limiter = shared.rateLimiter, !limiter.allow(device.id) {
            return refusePublish(publish, .quotaExceeded, drop: .rateLimited, log: "MQTT device over its rate limit")
        }
        // A connection closed meanwhile (an attribute store's task came
        // back late) takes nothing more: nobody is left to answer.
        guard let eventLoop = context?.eventLoop, state == .connected else { return }
        let completion: any DeliveryCompletion
        switch (publish.qos, publish.packetIdentifier) {
        case (.atLeastOnce, let identifier?):
            completion = MQTTDeliveryCompletion(handler: self, eventLoop: eventLoop, packetIdentifier: identifier, qos: .atLeastOnce)
        case (.exactlyOnce, let identifier?):
            completion = MQTTDeliveryCompletion(handler: self, eventLoop: eventLoop, packetIdentifier: identifier, qos: .exactlyOnce)
        default:
            completion = UnacknowledgedCompletion.shared
        }
        let message = GatewayMessage(
            device: device, kind: kind, transport: .mqtt, receivedAt: receivedAt, entries: entries, completion: completion)
        switch shared.ingest.offer(message) {
        case .accepted:
            metrics.messageReceived(.mqtt)
            onAccepted()
            if let identifier = publish.packetIdentifier {
                inFlight += 1
                if publish.qos == .exactlyOnce {
                    exactlyOnceReceived.insert(identifier)
                    awaitingSink.insert(identifier)
                }
            }
        case .refused(.queueFull):
            // Backpressure: keep the message and stop reading (issue: no unbounded buffering).
            holdBack(packet)
        case .refused(let reason):
            refusePublish(publish, .serverShuttingDown, drop: reason, log: "MQTT message refused: \(reason.rawValue)")
        }
    }

    /// The sink's verdict, on the event loop.
    func sinkAnswered(packetIdentifier: UInt16, qos: MQTTQoSLevel, outcome: DeliveryOutcome) {
        inFlight -= 1
        guard state == .connected else { return }
        switch (outcome, qos) {
        case (.delivered, .atLeastOnce):
            sendCoalesced(.pubAck(MQTTPublishAck(packetIdentifier: packetIdentifier)))
        case (.delivered, .exactlyOnce):
            awaitingSink.remove(packetIdentifier)
            sendCoalesced(.pubRec(MQTTPublishAck(packetIdentifier: packetIdentifier)))
        case (.failed(let reason), _):
            awaitingSink.remove(packetIdentifier)
            exactlyOnceReceived.remove(packetIdentifier)
            let code: MQTTReasonCode = reason == .rateLimited ? .quotaExceeded : .unspecifiedError
            if version == .v5 {
                // MQTT 5.0: an error reason instead of silence; the client may send again.
                let ack = MQTTPublishAck(packetIdentifier: packetIdentifier, reasonCode: code)
                send(qos == .atLeastOnce ? .pubAck(ack) : .pubRec(ack))
            } else {
                // 3.1.1 has no negative acknowledgement: closing makes the client resend.
                logger.warning("sink refused a QoS \(qos == .atLeastOnce ? 1 : 2) message; closing the 3.1.1 connection so it is resent",
                               metadata: ["device_id": "\(device?.id ?? "")", "reason": "\(reason.rawValue)"])
                endReason = .protocolError
                close()
            }
        }
        if closingWhenIdle {
            if inFlight == 0 { disconnect(.serverShuttingDown) }
            return
        }
        if readingPaused { updateReading() }
    }

    /// Answers a refused PUBLISH: a reason code on 5.0 (QoS 1/2), closing
    /// the connection on 3.1.1 (which has no negative acknowledgement).
    func refusePublish(_ publish: MQTTPublish, _ code: MQTTReasonCode, drop: DropReason?, log: String) {
        if let drop { metrics.dropped(drop) }
        logger.warning(
            "\(log)",
            metadata: ["device_id": "\(device?.id ?? "")", "topic": "\(publish.topic)", "transport": "mqtt"])
        if version == .v5 {
            guard let identifier = publish.packetIdentifier else { return }
            let ack = MQTTPublishAck(packetIdentifier: identifier, reasonCode: code)
            send(publish.qos == .atLeastOnce ? .pubAck(ack) : .pubRec(ack))
        } else if publish.qos != .atMostOnce || code == .topicNameInvalid {
            endReason = .protocolError
            close()
        }
    }

    /// A request the gateway answers itself: acknowledged at once.
    func acknowledgeLocally(_ publish: MQTTPublish) {
        guard let identifier = publish.packetIdentifier else { return }
        if publish.qos == .atLeastOnce {
            send(.pubAck(MQTTPublishAck(packetIdentifier: identifier)))
        } else {
            exactlyOnceReceived.insert(identifier)
            send(.pubRec(MQTTPublishAck(packetIdentifier: identifier)))
        }
    }

    // MARK: Publishing to the device

    /// Publishes on a topic the device subscribed to, at the granted QoS
    /// (at most 1); nothing is sent to a topic without a subscription.
    /// Publishes downlink to the device if it subscribed to the topic.
    /// For a server-side RPC request (`rpcId`), the device's PUBACK (QoS 1)
    /// or the write itself (QoS 0, which has no acknowledgement) tells the
    /// persistent RPC store it was DELIVERED.
    /// A PUBLISH the client could not take (a topic past 65,535 bytes, a
    /// packet past its Maximum Packet Size) is discarded and counted, never
    /// handed to the encoder (MQTT-3.1.2-25); that returns false.
    @discardableResult
    func publishToDevice(topic: String, payload: ByteBuffer, rpcId: Int? = nil) -> Bool {
        guard let granted = subscriptions.first(where: { MQTTTopic.matches(filter: $0.key, topic: topic) })?.value else { return false }
        guard fitsClient(topic: topic, payloadBytes: payload.readableBytes, qos: granted) else {
            metrics.dropped(.answerTooLarge)
            logger.warning(
                "MQTT publish to the device discarded: larger than the client accepts",
                metadata: ["device_id": "\(device?.id ?? "")", "topic_bytes": "\(topic.utf8.count)",
                           "payload_bytes": "\(payload.readableBytes)", "limit": "\(clientMaximumPacketSize)"])
            return false
        }
        if !writable, let channel = context?.channel,
            let buffered = try? channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes),
            buffered > Self.maximumBufferedBytes
        {
            // The device reads nothing while downlink keeps coming: close
            // rather than buffer without bound (it reconnects and is sent
            // what is current).
            metrics.dropped(.slowConsumer)
            logger.warning(
                "MQTT device does not read; closing", metadata: ["device_id": "\(device?.id ?? "")", "buffered_bytes": "\(buffered)"])
            endReason = .protocolError
            close()
            return false
        }
        var publish = MQTTPublish(topic: topic, payload: payload, qos: granted)
        if granted != .atMostOnce {
            publish.packetIdentifier = nextOutboundIdentifier
            if let rpcId { rpcAwaitingAck[nextOutboundIdentifier] = rpcId }
            nextOutboundIdentifier = nextOutboundIdentifier == .max ? 1 : nextOutboundIdentifier + 1
        }
        send(.publish(publish))
        if granted == .atMostOnce, let rpcId, let device { shared.deviceSessions.rpcDelivered(deviceId: device.id, id: rpcId) }
        return true
    }

    /// Whether a PUBLISH without properties on `topic` can be encoded and
    /// is within the client's Maximum Packet Size.
    func fitsClient(topic: String, payloadBytes: Int, qos: MQTTQoS) -> Bool {
        let topicBytes = topic.utf8.count
        guard topicBytes <= mqttMaximumFieldLength else { return false }
        let remaining = 2 + topicBytes + (qos == .atMostOnce ? 0 : 2) + (version == .v5 ? 1 : 0) + payloadBytes
        guard remaining <= mqttMaximumRemainingLength else { return false }
        return 1 + ByteBuffer.mqttVariableIntegerSize(remaining) + remaining <= clientMaximumPacketSize
    }

    /// A request whose answer could never reach the device (its reply
    /// topic past 65,535 bytes): refused, counted, and told (PUBACK 0x90 on
    /// 5.0 at QoS 1/2, DISCONNECT 0x90 at QoS 0, the connection closed on
    /// 3.1.1, which has no negative answer).
    func refuseUnanswerable(_ publish: MQTTPublish, replyTopic: String) {
        metrics.dropped(.answerTooLarge)
        logger.warning(
            "MQTT request refused: its reply topic cannot be encoded",
            metadata: ["device_id": "\(device?.id ?? "")", "reply_topic_bytes": "\(replyTopic.utf8.count)", "transport": "mqtt"])
        if version == .v5, let identifier = publish.packetIdentifier {
            let ack = MQTTPublishAck(packetIdentifier: identifier, reasonCode: .topicNameInvalid)
            return send(publish.qos == .atLeastOnce ? .pubAck(ack) : .pubRec(ack))
        }
        endReason = .protocolError
        disconnect(.topicNameInvalid)
    }
}
