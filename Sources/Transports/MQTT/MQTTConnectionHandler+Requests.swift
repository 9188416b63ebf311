import Logging
import Auth
import MQTTCodec
import NIOCore
import ProcessorAPI

extension MQTTConnectionHandler {
    /// SUBACK grants QoS 0 or 1 to the device API's filters; any other
    /// filter gets the failure code 0x80, and a filter past
    /// MQTT_MAX_SUBSCRIPTIONS gets 0x97 Quota exceeded (0x80 on 3.1.1).
    func handleSubscribe(_ subscribe: MQTTSubscribe) {
        let codes = subscribe.subscriptions.map { subscription -> MQTTReasonCode in
            guard ThingsBoardMQTTTopic.isSubscribable(subscription.topicFilter) else {
                if shared.warnings.shouldWarn(remoteIP) {
                    logger.info(
                        "MQTT subscription outside the device API refused",
                        metadata: ["device_id": "\(device?.id ?? "")", "topic": "\(subscription.topicFilter)"])
                }
                return .unspecifiedError
            }
            guard subscriptions[subscription.topicFilter] != nil || subscriptions.count < shared.configuration.maxSubscriptions else {
                metrics.dropped(.quotaExceeded)
                return .quotaExceeded
            }
            let granted = min(subscription.qos, .atLeastOnce)
            subscriptions[subscription.topicFilter] = granted
            return granted == .atLeastOnce ? .grantedQoS1 : .success
        }
        send(.subAck(MQTTSubAck(packetIdentifier: subscribe.packetIdentifier, reasonCodes: codes)))
        if let device, subscriptions.keys.contains(where: { MQTTTopic.matches(filter: $0, topic: ThingsBoardMQTTTopic.rpcRequestPrefix + "1") }) {
            shared.deviceSessions.rpcReady(deviceId: device.id)
        }
        logger.info(
            "MQTT subscribed",
            metadata: ["device_id": "\(device?.id ?? "")", "topics": "\(subscribe.subscriptions.map(\.topicFilter).joined(separator: " "))"])
    }

    /// `v1/devices/me/attributes/request/{id}` with `{"clientKeys":"a,b","sharedKeys":"c"}`:
    /// answered on `v1/devices/me/attributes/response/{id}` with `{"client":{…},"shared":{…}}`.
    func answerAttributeRequest(_ publish: MQTTPublish, id: String, device: DeviceIdentity) {
        let parsed = Result { () throws(PayloadError) in try Self.attributeKeys(publish.payload) }
        guard case .success(let request) = parsed else {
            return refusePublish(publish, .payloadFormatInvalid, drop: .invalidPayload, log: "invalid attribute request")
        }
        let reply = ThingsBoardMQTTTopic.attributesResponsePrefix + id
        guard reply.utf8.count <= mqttMaximumFieldLength else { return refuseUnanswerable(publish, replyTopic: reply) }
        guard let eventLoop = context?.eventLoop else { return }
        acknowledgeLocally(publish)
        registryCallsInFlight += 1
        let registry = shared.registry
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let clientKeys = request.client
        let sharedKeys = request.shared
        let deviceId = device.id
        Task {
            do {
                let body = try await registry.attributeResponse(deviceId: deviceId, clientKeys: clientKeys, sharedKeys: sharedKeys)
                handler.eventLoop.execute {
                    handler.value.publishToDevice(topic: reply, payload: ByteBuffer(string: body))
                    handler.value.registryCallAnswered()
                }
            } catch {
                handler.eventLoop.execute {
                    handler.value.metrics.error(.registry)
                    handler.value.registryCallAnswered()
                }
            }
        }
    }

    /// One registry read fewer out: held packets may go on.
    func registryCallAnswered() {
        registryCallsInFlight -= 1
        if registryCallsInFlight == Self.maximumRegistryCallsInFlight - 1 { drainBacklog() }
    }

    /// The key lists of an attribute request; nil when a list is absent.
    static func attributeKeys(_ payload: ByteBuffer) throws(PayloadError) -> (client: [String]?, shared: [String]?) {
        if payload.readableBytes == 0 { return (nil, nil) }
        let update = try ThingsBoardPayload.parseAttributes(payload, receivedAt: 0)
        func keys(_ name: String) -> [String]? {
            guard let json = update.values.first(where: { $0.key == name })?.json else { return nil }
            // A JSON string "a,b": strip the quotes; escapes are not expected in key lists.
            let text = json.hasPrefix("\"") && json.hasSuffix("\"") ? String(json.dropFirst().dropLast()) : json
            return text.split(separator: ",").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
        }
        return (keys("clientKeys"), keys("sharedKeys"))
    }

    /// RPC replies and client-side RPC go to the RPC topic as
    /// `{"requestId":"…","payload":<the device's JSON>}`.
    func forwardRPC(_ publish: MQTTPublish, packet: MQTTPacket, kind: MessageKind, id: String, device: DeviceIdentity) {
        guard let values = ThingsBoardPayload.rpcEnvelope(id: id, payload: publish.payload) else {
            return refusePublish(publish, .payloadFormatInvalid, drop: .invalidPayload, log: "invalid RPC payload")
        }
        let receivedAt = EpochClock.nowMilliseconds()
        if kind == .rpcResponse {
            shared.deviceSessions.rpcReplied(deviceId: device.id, id: id, payload: String(buffer: publish.payload))
        }
        submit(publish, packet: packet, kind: kind, entries: [TelemetryEntry(ts: receivedAt, values: values)],
               receivedAt: receivedAt, device: device)
    }

    func isSessionLimitsRequest(_ payload: ByteBuffer) -> Bool {
        guard let update = try? ThingsBoardPayload.parseAttributes(payload, receivedAt: 0) else { return false }
        return update.values.first { $0.key == "method" }?.json == #""getSessionLimits""#
    }

    /// ThingsBoard answers `getSessionLimits` itself; its SDKs ask on connect.
    func answerSessionLimits(id: String) {
        let configuration = shared.configuration
        var body = #"{"maxPayloadSize":\#(configuration.maxPayloadSize),"maxInflightMessages":\#(configuration.receiveMaximum)"#
        if let limiter = shared.rateLimiter {
            let limit = "\(Int(limiter.requestsPerSecond)):1"
            body += #","rateLimits":{"messages":"\#(limit)","telemetryMessages":"\#(limit)","telemetryDataPoints":""}"#
        } else {
            body += #","rateLimits":{"messages":"","telemetryMessages":"","telemetryDataPoints":""}"#
        }
        body += "}"
        publishToDevice(topic: ThingsBoardMQTTTopic.rpcResponsePrefix + id, payload: ByteBuffer(string: body))
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var view = self
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
