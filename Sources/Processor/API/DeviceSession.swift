/// What the backend sends to a device (architecture.md, "Downlink").
package enum DownlinkMessage: Sendable, Equatable {
    /// Shared attributes that changed: one JSON object, as ThingsBoard
    /// publishes it on `v1/devices/me/attributes`.
    case sharedAttributesUpdated(json: String)
    /// Shared attributes that were deleted: sent as `{"deleted":["key"]}`.
    case sharedAttributesDeleted(keys: [String])
    /// A server-side RPC request; `params` is JSON text. MQTT publishes it on
    /// `v1/devices/me/rpc/request/{id}` as `{"method":…,"params":…}`, CoAP
    /// notifies observers of `/rpc` with `{"id":…,"method":…,"params":…}`.
    case rpcRequest(id: Int, method: String, params: String)
    /// The backend's answer to the device's client-side RPC `id` (JSON
    /// text), published by MQTT on `v1/devices/me/rpc/response/{id}`.
    case rpcResponse(id: String, payload: String)
}

/// A live connection of a device on some transport.
package protocol DeviceSession: Sendable {
    /// The protocol of the session, for `tb_gateway_downlink_total{transport}`.
    var transport: TransportKind { get }
    /// Hands the message to the device; returns at once (the transport
    /// writes on its own event loop).
    func deliver(_ message: DownlinkMessage)
    /// Whether this session takes this kind of message at all (a CoAP
    /// observation of /attributes does not take RPC); only such sessions
    /// are delivered to and counted.
    func carries(_ message: DownlinkMessage) -> Bool
}

extension DeviceSession {
    package func carries(_ message: DownlinkMessage) -> Bool { true }
}

extension DownlinkMessage {
    /// A server-side RPC request (what observers and long-polls of /rpc take).
    package var isRPC: Bool {
        if case .rpcRequest = self { return true }
        return false
    }

    package var isRPCResponse: Bool {
        if case .rpcResponse = self { return true }
        return false
    }

    package var metricKind: GatewayMetrics.DownlinkKind {
        switch self {
        case .sharedAttributesUpdated, .sharedAttributesDeleted: .attributes
        case .rpcRequest: .rpc
        case .rpcResponse: .rpcResponse
        }
    }
}

/// Where transports register their live sessions, so downlink can find them
/// whatever the protocol.
package protocol DeviceSessionRegistry: Sendable {
    /// Returns a registration to pass to `unregister`.
    func register(deviceId: String, session: any DeviceSession) -> UInt64
    func unregister(deviceId: String, registration: UInt64)
    /// A device's reply to server-side RPC `id`, from any transport; hands
    /// it to an admin call waiting for it (two-way RPC). The reply also goes
    /// to the RPC topic like any uplink, whether anyone waits or not.
    func rpcReplied(deviceId: String, id: String, payload: String)
    /// A session of the device can take RPC now (an MQTT subscription to
    /// the request topic, a CoAP observation or HTTP long-poll of /rpc):
    /// RPCs kept for it while it was away go out.
    func rpcReady(deviceId: String)
    /// The device acknowledged server-side RPC `id` at the protocol level
    /// (an MQTT PUBACK, the ACK of a CoAP CON notification, a long-poll
    /// answer written) or, where the protocol has no acknowledgement (MQTT
    /// QoS 0, a CoAP NON), the request was written to it: a persistent RPC
    /// becomes DELIVERED.
    func rpcDelivered(deviceId: String, id: Int)
}

/// A client-side RPC from a CoAP or HTTP device, waiting for the backend's
/// answer (a `rpc_response` command with its id) to return it as the
/// response to the device's request: a downlink session that carries that
/// one answer and nothing else.
package struct ClientRPCAnswerSession: DeviceSession {
    package let transport: TransportKind
    package let requestId: String
    /// Called with the answer's JSON text, on whatever thread delivers it.
    package let answered: @Sendable (String) -> Void

    package init(transport: TransportKind, requestId: String, answered: @escaping @Sendable (String) -> Void) {
        self.transport = transport
        self.requestId = requestId
        self.answered = answered
    }

    package func carries(_ message: DownlinkMessage) -> Bool {
        if case .rpcResponse(let id, _) = message { return id == requestId }
        return false
    }

    package func deliver(_ message: DownlinkMessage) {
        if case .rpcResponse(let id, let payload) = message, id == requestId { answered(payload) }
    }
}
