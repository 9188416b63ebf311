import Auth
import Logging
import CoAPCodec
import CoAPEndpoint
import NIOCore
import ProcessorAPI

/// A device the CoAP API counts as connected.
struct CoAPConnectedDevice {
    let identity: DeviceIdentity
    var lastActivity: NIODeadline
    var observations: Int
}

/// What an observation of the device API carries to the device.
enum CoAPObservedResource: String {
    /// `/api/v1/{token}/attributes`: shared-attribute updates and deletions.
    case attributes
    /// `/api/v1/{token}/rpc`: server-side RPC requests.
    case rpc
}

extension CoAPDeviceHandler {
    /// RFC 7641 registration on the attributes or RPC resource: the device's
    /// observation becomes a downlink session in DeviceSessions, so the
    /// router reaches it with one call, as it reaches an MQTT connection.
    func observe(_ device: DeviceIdentity, _ exchange: CoAPServerExchange, carrying resource: CoAPObservedResource) {
        let loop = exchange.eventLoop
        var registration: UInt64?
        let handlerBound = NIOLoopBound(self, eventLoop: loop)
        guard let observation = exchange.acceptObservation(onCancel: { reason in
            let handler = handlerBound.value
            if let registration { handler.api.deviceSessions.unregister(deviceId: device.id, registration: registration) }
            handler.observationEnded(device, resource: resource, reason: reason)
        }) else {
            return exchange.respond(CoAPResponse(code: .badRequest))
        }
        let session = CoAPObserveSession(
            observation: NIOLoopBound(observation, eventLoop: loop), resource: resource, deviceId: device.id, sessions: api.deviceSessions)
        let start: (CoAPDeviceHandler, String) -> Void = { handler, body in
            exchange.respond(CoAPResponse(code: .content, text: body, contentFormat: CoAPContentFormat.json))
            guard observation.isActive else { return }
            registration = handler.api.deviceSessions.register(deviceId: device.id, session: session)
            handler.api.shared.observationStarted(device.id)
            if resource == .rpc { handler.api.deviceSessions.rpcReady(deviceId: device.id) }
            handler.api.logger.info(
                "CoAP observation registered",
                metadata: ["device_id": "\(device.id)", "resource": "\(resource.rawValue)", "peer": "\(exchange.peer)", "transport": "coap"])
        }
        guard resource == .attributes else { return start(self, "{}") }
        // The first answer carries the shared attributes as they are now.
        let registry = api.registry
        let bound = NIOLoopBound((self, start, exchange), eventLoop: loop)
        Task {
            let shared = try? await registry.attributes(deviceId: device.id, scope: .shared)
            loop.execute {
                let (handler, start, exchange) = bound.value
                guard let shared else {
                    handler.api.metrics.error(.registry)
                    return exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)]))
                }
                start(handler, DeviceRegistry.jsonObject(shared))
            }
        }
    }

    private func observationEnded(_ device: DeviceIdentity, resource: CoAPObservedResource, reason: CoAPObservation.EndReason) {
        api.shared.observationEnded(device.id, now: .now())
        api.logger.info(
            "CoAP observation ended",
            metadata: ["device_id": "\(device.id)", "resource": "\(resource.rawValue)", "reason": "\(reason)", "transport": "coap"])
    }

    // MARK: Connectivity

    /// Every authenticated request keeps the device connected.
    func touch(_ device: DeviceIdentity) {
        guard let connected = api.shared.touch(device, now: .now()) else { return }
        api.metrics.devicesConnected(.coap, connected)
        submitConnectivityEvent(device, #"{"event":"connected"}"#)
    }

    func startSweep(on loop: any EventLoop) {
        guard sweep == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        sweep = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            bound.value.sweepInactive()
        }
    }

    /// A device with no observation and no request within COAP_SESSION_TIMEOUT is disconnected.
    private func sweepInactive() {
        let cutoff = NIODeadline.now() - configuration.sessionTimeout.timeAmount
        let (gone, left) = api.shared.sweep(cutoff: cutoff)
        guard !gone.isEmpty else { return }
        for device in gone {
            submitConnectivityEvent(device, #"{"event":"disconnected","reason":"inactive"}"#)
        }
        api.metrics.devicesConnected(.coap, left)
    }

    func stopSweep() {
        sweep?.cancel()
        sweep = nil
    }

    private func submitConnectivityEvent(_ device: DeviceIdentity, _ values: String) {
        let now = EpochClock.nowMilliseconds()
        let message = GatewayMessage(
            device: device, kind: .connectivity, transport: .coap, receivedAt: now,
            entries: [TelemetryEntry(ts: now, values: ByteBuffer(string: values))], completion: UnacknowledgedCompletion.shared)
        if case .refused(let reason) = api.ingest.submit(message) {
            api.logger.warning("connectivity event not forwarded", metadata: ["device_id": "\(device.id)", "reason": "\(reason.rawValue)"])
        }
    }
}

/// An observation as a downlink target: shared-attribute changes are
/// notified to an observer of `/attributes`, RPC requests (as CON, so a
/// lost one is noticed) to an observer of `/rpc`.
struct CoAPObserveSession: DeviceSession {
    let observation: NIOLoopBound<CoAPObservation>
    let resource: CoAPObservedResource
    let deviceId: String
    let sessions: any DeviceSessionRegistry
    var transport: TransportKind { .coap }

    func carries(_ message: DownlinkMessage) -> Bool { !message.isRPCResponse && message.isRPC == (resource == .rpc) }

    func deliver(_ message: DownlinkMessage) {
        let payload: String
        var confirmable: Bool?
        var delivered: (@Sendable () -> Void)?
        switch (message, resource) {
        case (.sharedAttributesUpdated(let json), .attributes):
            payload = json
        case (.sharedAttributesDeleted(let keys), .attributes):
            payload = #"{"deleted":["# + keys.map(JSONEscaping.quoted).joined(separator: ",") + "]}"
        case (.rpcRequest(let id, let method, let params), .rpc):
            payload = #"{"id":\#(id),"method":"# + JSONEscaping.quoted(method) + #","params":"# + params + "}"
            confirmable = true
            delivered = { [sessions, deviceId] in sessions.rpcDelivered(deviceId: deviceId, id: id) }
        default:
            return
        }
        let observation = self.observation
        let (asConfirmable, onDelivered) = (confirmable, delivered)
        observation.eventLoop.execute {
            observation.value.notify(
                CoAPResponse(code: .content, text: payload, contentFormat: CoAPContentFormat.json), confirmable: asConfirmable, delivered: onDelivered)
        }
    }
}
