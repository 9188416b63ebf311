import Logging
import Auth
import MQTTCodec
import NIOCore
import ProcessorAPI
import Synchronization

extension MQTTConnectionHandler {
    /// CONNECT: the user name is the device's access token (ThingsBoard's
    /// MQTT device API); a look-up in the registry runs off the event loop.
    func handleConnect(_ connect: MQTTConnect) {
        version = connect.protocolVersion
        encoder.version = connect.protocolVersion
        if version == .v5, let size = connect.properties.integer(.maximumPacketSize), size > 0 {
            clientMaximumPacketSize = min(size, clientMaximumPacketSize)
        }
        releasePending()
        established = true
        if shared.established.wrappingAdd(1, ordering: .relaxed).newValue > shared.configuration.maxConnections {
            metrics.connectionRefused(TransportKind.mqtt.rawValue, .maxConnections)
            if shared.warnings.shouldWarn("MQTT_MAX_CONNECTIONS") {
                logger.warning("MQTT_MAX_CONNECTIONS reached; refusing a connection", metadata: ["remote_address": "\(remoteAddress)"])
            }
            return refuse(.serverUnavailable)
        }
        guard let token = connect.username, !token.isEmpty else {
            return authenticationFailed("no access token (user name)")
        }
        state = .authenticating
        if connect.keepAlive > 0 {
            // MQTT-3.1.2-24: one and a half times the Keep Alive.
            keepAlive = .milliseconds(Int64(connect.keepAlive) * 1500)
        }
        let authenticator = shared.authenticator
        // A cached token (the common case, also for reconnect storms) is
        // answered in place: no task, no hop back to the event loop.
        if let cached = authenticator.cachedResult(token: token) {
            return finishConnect(cached, clientIdentifier: connect.clientIdentifier)
        }
        let address = remoteIP
        if authenticator.failures.isBlocked(address) {
            // Too many wrong tokens from here: no look-up (0x9F, 3 on 3.1.1).
            metrics.connectionRefused(TransportKind.mqtt.rawValue, .throttled)
            return refuse(.connectionRateExceeded)
        }
        metrics.authCacheMiss()
        guard let eventLoop = context?.eventLoop else { return }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let clientIdentifier = connect.clientIdentifier
        authenticator.authenticateUncached(token: token, from: address) { result in
            handler.eventLoop.execute {
                handler.value.finishConnect(result, clientIdentifier: clientIdentifier)
            }
        }
    }

    private func finishConnect(_ result: AuthenticationResult, clientIdentifier: String) {
        guard state == .authenticating else { return }
        switch result {
        case .authenticated(let device):
            self.device = device
        case .unavailable:
            logger.error("device registry unavailable; refusing an MQTT connection")
            return refuse(.serverUnavailable)
        case .unknown, .disabled, .malformed:
            return authenticationFailed("\(result)")
        }
        guard let device, let context else { return }
        state = .connected
        connectDeadline = nil
        var properties = MQTTProperties()
        if version == .v5 {
            let configuration = shared.configuration
            properties.append(.receiveMaximum, .twoByteInteger(UInt16(clamping: configuration.receiveMaximum)))
            properties.append(.maximumPacketSize, .fourByteInteger(UInt32(clamping: configuration.maximumPacketSize)))
            properties.append(.topicAliasMaximum, .twoByteInteger(UInt16(clamping: configuration.topicAliasMaximum)))
            properties.append(.retainAvailable, .byte(0))
            // Wildcards only in the API's own filters (rpc/request/+ …).
            properties.append(.wildcardSubscriptionAvailable, .byte(1))
            properties.append(.sharedSubscriptionAvailable, .byte(0))
            properties.append(.subscriptionIdentifierAvailable, .byte(0))
            if clientIdentifier.isEmpty {
                // MQTT-3.2.2-16: a server that accepts an empty client id assigns one.
                properties.append(.assignedClientIdentifier, .string("tb-\(device.id)"))
            }
        }
        send(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: .success, properties: properties)))

        let live = shared.sessions.register(
            device: device.id,
            .init(connection: connectionIdentifier, takeOver: { [handler = NIOLoopBound(self, eventLoop: context.eventLoop)] in
                handler.eventLoop.execute {
                    let session = handler.value
                    session.endReason = .takeover
                    session.logger.info("MQTT session taken over by a new connection", metadata: ["device_id": "\(device.id)"])
                    session.disconnect(.sessionTakenOver)
                }
            }))
        metrics.devicesConnected(.mqtt, live)
        downlinkRegistration = shared.deviceSessions.register(
            deviceId: device.id, session: MQTTDownlinkSession(handler: NIOLoopBound(self, eventLoop: context.eventLoop)))
        logger.info(
            "MQTT device connected",
            metadata: ["device_id": "\(device.id)", "transport": "mqtt", "remote_address": "\(remoteAddress)",
                       "protocol": "\(version == .v5 ? "5.0" : "3.1.1")"])
        submitConnectivityEvent(#"{"event":"connected"}"#)
        drainBacklog()
    }

    private func authenticationFailed(_ reason: String) {
        metrics.authFailed(.mqtt)
        logger.warning(
            "MQTT device authentication failed",
            metadata: ["remote_address": "\(remoteAddress)", "reason": "\(reason)", "transport": "mqtt"])
        refuse(.notAuthorized)
    }

    /// CONNACK with a failure (3.1.1 return code 3 or 5), then close (MQTT-3.2.2-5).
    private func refuse(_ reason: MQTTReasonCode) {
        endReason = .refused
        send(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: reason)))
        state = .closed
        context?.close(promise: nil)
    }

    /// Connected/disconnected events on the events topic.
    func submitConnectivityEvent(_ values: String) {
        guard let device else { return }
        let now = EpochClock.nowMilliseconds()
        let message = GatewayMessage(
            device: device, kind: .connectivity, transport: .mqtt, receivedAt: now,
            entries: [TelemetryEntry(ts: now, values: ByteBuffer(string: values))], completion: UnacknowledgedCompletion.shared)
        if case .refused(let reason) = shared.ingest.submit(message) {
            logger.warning("connectivity event not forwarded", metadata: ["device_id": "\(device.id)", "reason": "\(reason.rawValue)"])
        }
    }
}
