import Metrics

/// Every metric the gateway exports, declared once (swift-prometheus traps
/// when one name is registered with two types or label sets). Handles are
/// created up front for every label value, so the hot path only increments
/// and every series shows up in `/metrics` from the start, at zero.
package final class GatewayMetrics: Sendable {
    package enum Name {
        package static let messagesReceived = "tb_gateway_messages_received_total"
        package static let messagesSent = "tb_gateway_messages_sent_total"
        package static let devicesConnected = "tb_gateway_devices_connected"
        package static let authFailures = "tb_gateway_auth_failures_total"
        package static let errors = "tb_gateway_errors_total"
        package static let messagesDropped = "tb_gateway_messages_dropped_total"
        package static let queueDepth = "tb_gateway_queue_depth"
        package static let batchSize = "tb_gateway_batch_size"
        package static let sinkLatency = "tb_gateway_sink_latency_seconds"
        package static let authCacheHits = "tb_gateway_auth_cache_hits_total"
        package static let authCacheMisses = "tb_gateway_auth_cache_misses_total"
        package static let buildInfo = "tb_gateway_build_info"
        package static let downlink = "tb_gateway_downlink_total"
        package static let rpcPending = "tb_gateway_rpc_pending"
        package static let lwm2mClientState = "tb_gateway_lwm2m_client_state"
        package static let bridgeConnected = "tb_gateway_bridge_connected"
        package static let lwm2mClientOperations = "tb_gateway_lwm2m_client_operations_total"
        package static let connectionsRefused = "tb_gateway_connections_refused_total"
    }

    /// The `reason` label of `tb_gateway_connections_refused_total`: a
    /// connection (or an LwM2M registration, a CoAP block-wise transfer) the
    /// gateway refused or closed before it was a working device session, so
    /// a flood shows up as one series per reason, never one per address.
    package enum ConnectionRefusal: String, Sendable, CaseIterable {
        /// MQTT_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS.
        case maxConnections = "max_connections"
        /// Sockets not yet authenticated (MQTT before CONNECT) past their cap.
        case maxPending = "max_pending"
        /// One address holds its share of the not-yet-authenticated slots.
        case perAddress = "per_address"
        /// No CONNECT within MQTT_CONNECT_TIMEOUT.
        case connectTimeout = "connect_timeout"
        /// A request not complete within HTTP_REQUEST_TIMEOUT (408).
        case requestTimeout = "request_timeout"
        /// A keep-alive connection without a request for HTTP_IDLE_TIMEOUT.
        case idleTimeout = "idle_timeout"
        /// An address that sent too many wrong tokens or admin keys.
        case throttled
        /// A datagram or request from an address that is not a configured peer.
        case unknownPeer = "unknown_peer"
    }

    /// The `operation` label of `tb_gateway_lwm2m_client_operations_total`:
    /// what the upstream server asked of the gateway as an LwM2M client.
    package enum LwM2MClientOperation: String, Sendable, CaseIterable {
        case read, discover, write, writeAttributes = "write_attributes", execute, observe, create, delete
    }

    /// The `kind` label of `tb_gateway_downlink_total`.
    package enum DownlinkKind: String, Sendable, CaseIterable {
        case attributes
        case rpc
        case rpcResponse = "rpc_response"
    }

    /// The `result` label of `tb_gateway_downlink_total`: handed to a
    /// session, or no session of the device takes it (`transport="none"`).
    package enum DownlinkResult: String, Sendable, CaseIterable {
        case sent
        case noSession = "no_session"
    }

    /// The `kind` label of `tb_gateway_errors_total`.
    package enum ErrorKind: String, Sendable, CaseIterable {
        case registry
        case sink
        case payload
        case transport
        /// A record on the command topic that is not a valid command.
        case commandInvalid = "command_invalid"
        case `internal`
    }

    package static let sinkNames = ["kafka", "http"]

    /// By `slot(_:)`: counted for every message, so an array, not a
    /// dictionary that hashes the transport each time.
    private let received: [Counter]
    private let authFailureCounters: [TransportKind: Counter]
    private let connected: [TransportKind: Gauge]
    private let dropped: [DropReason: Counter]
    private let errorCounters: [ErrorKind: Counter]
    private let sent: [String: Counter]
    private let latency: [String: Metrics.Timer]
    private let queueDepth: Gauge
    private let batchSize: Recorder
    private let authCacheHits: Counter
    private let authCacheMisses: Counter
    private let downlinkCounters: [String: Counter]
    private let rpcPendingGauge: Gauge
    private let lwm2mClientStateGauge: Gauge
    private let bridgeConnectedGauge: Gauge
    private let lwm2mClientOperationCounters: [String: Counter]
    private let refusedConnections: [String: Counter]

    package init(version: String = "dev") {
        func byTransport<M>(_ make: (TransportKind) -> M) -> [TransportKind: M] {
            Dictionary(uniqueKeysWithValues: TransportKind.deviceTransports.map { ($0, make($0)) })
        }
        precondition(TransportKind.deviceTransports.enumerated().allSatisfy { Self.slot($0.element) == $0.offset })
        received = TransportKind.deviceTransports.map { Counter(label: Name.messagesReceived, dimensions: [("transport", $0.rawValue)]) }
        authFailureCounters = byTransport { Counter(label: Name.authFailures, dimensions: [("transport", $0.rawValue)]) }
        connected = byTransport { Gauge(label: Name.devicesConnected, dimensions: [("transport", $0.rawValue)]) }
        dropped = Dictionary(uniqueKeysWithValues: DropReason.allCases.map {
            ($0, Counter(label: Name.messagesDropped, dimensions: [("reason", $0.rawValue)]))
        })
        errorCounters = Dictionary(uniqueKeysWithValues: ErrorKind.allCases.map {
            ($0, Counter(label: Name.errors, dimensions: [("kind", $0.rawValue)]))
        })
        sent = Dictionary(uniqueKeysWithValues: Self.sinkNames.map {
            ($0, Counter(label: Name.messagesSent, dimensions: [("sink", $0)]))
        })
        latency = Dictionary(uniqueKeysWithValues: Self.sinkNames.map {
            ($0, Metrics.Timer(label: Name.sinkLatency, dimensions: [("sink", $0)], preferredDisplayUnit: .seconds))
        })
        queueDepth = Gauge(label: Name.queueDepth)
        batchSize = Recorder(label: Name.batchSize, aggregate: true)
        authCacheHits = Counter(label: Name.authCacheHits)
        authCacheMisses = Counter(label: Name.authCacheMisses)
        Gauge(label: Name.buildInfo, dimensions: [("version", version)]).record(1)
        var downlink: [String: Counter] = [:]
        for transport in TransportKind.deviceTransports.map(\.rawValue) + ["none"] {
            for kind in DownlinkKind.allCases {
                for result in DownlinkResult.allCases where (transport == "none") == (result == .noSession) {
                    downlink[transport + "/" + kind.rawValue + "/" + result.rawValue] = Counter(
                        label: Name.downlink, dimensions: [("transport", transport), ("kind", kind.rawValue), ("result", result.rawValue)])
                }
            }
        }
        downlinkCounters = downlink
        rpcPendingGauge = Gauge(label: Name.rpcPending)
        lwm2mClientStateGauge = Gauge(label: Name.lwm2mClientState)
        bridgeConnectedGauge = Gauge(label: Name.bridgeConnected)
        var operations: [String: Counter] = [:]
        for operation in LwM2MClientOperation.allCases {
            for result in ["success", "error"] {
                operations[operation.rawValue + "/" + result] = Counter(
                    label: Name.lwm2mClientOperations, dimensions: [("operation", operation.rawValue), ("result", result)])
            }
        }
        lwm2mClientOperationCounters = operations
        var refusals: [String: Counter] = [:]
        for transport in TransportKind.deviceTransports.map(\.rawValue) + ["admin", "metrics"] {
            for reason in ConnectionRefusal.allCases {
                refusals[transport + "/" + reason.rawValue] = Counter(
                    label: Name.connectionsRefused, dimensions: [("transport", transport), ("reason", reason.rawValue)])
            }
        }
        refusedConnections = refusals
        rpcPendingGauge.record(0)
        lwm2mClientStateGauge.record(0)
        bridgeConnectedGauge.record(0)
    }

    /// One downlink message handed to a session of `transport`, or to none.
    package func downlink(_ transport: TransportKind?, _ kind: DownlinkKind) {
        let key = transport.map { $0.rawValue + "/" + kind.rawValue + "/sent" } ?? "none/" + kind.rawValue + "/no_session"
        downlinkCounters[key]?.increment()
    }

    /// Server-side RPCs waiting for the device's reply.
    /// 1 while the MQTT bridge is connected to its broker.
    package func bridgeConnected(_ connected: Bool) {
        bridgeConnectedGauge.record(connected ? 1 : 0)
    }

    /// 1 while the gateway is registered with its upstream LwM2M server.
    package func lwm2mClientRegistered(_ registered: Bool) {
        lwm2mClientStateGauge.record(registered ? 1 : 0)
    }

    /// An operation of the upstream server, `success` when answered 2.xx.
    package func lwm2mClientOperation(_ operation: LwM2MClientOperation, success: Bool) {
        lwm2mClientOperationCounters[operation.rawValue + (success ? "/success" : "/error")]?.increment()
    }

    package func rpcPending(_ count: Int) {
        rpcPendingGauge.record(count)
    }

    package func messageReceived(_ transport: TransportKind, count: Int = 1) {
        guard let slot = Self.slot(transport) else { return }
        received[slot].increment(by: count)
    }

    /// The transport's index in `TransportKind.deviceTransports`.
    private static func slot(_ transport: TransportKind) -> Int? {
        switch transport {
        case .http: 0
        case .mqtt: 1
        case .coap: 2
        case .lwm2m: 3
        case .mqttBridge: 4
        case .gateway: nil
        }
    }

    package func authFailed(_ transport: TransportKind) {
        authFailureCounters[transport]?.increment()
    }

    /// `transport` is a device transport's raw value, "admin" or "metrics".
    package func connectionRefused(_ transport: String, _ reason: ConnectionRefusal) {
        refusedConnections[transport + "/" + reason.rawValue]?.increment()
    }

    package func dropped(_ reason: DropReason, count: Int = 1) {
        dropped[reason]?.increment(by: count)
    }

    package func error(_ kind: ErrorKind) {
        errorCounters[kind]?.increment()
    }

    package func devicesConnected(_ transport: TransportKind, _ count: Int) {
        connected[transport]?.record(count)
    }

    package func queueDepth(_ depth: Int) {
        queueDepth.record(depth)
    }

    package func batchSize(_ size: Int) {
        batchSize.record(size)
    }

    package func authCacheHit() {
        authCacheHits.increment()
    }

    package func authCacheMiss() {
        authCacheMisses.increment()
    }

    package func sent(sink: String, count: Int = 1) {
        sent[sink]?.increment(by: count)
    }

    /// Many records' latencies at once: their enqueue times and now, in
    /// nanoseconds on one clock (the Kafka sink's delivery reports of a poll).
    package func sinkLatencies(sink: String, enqueuedNanoseconds: [Int64], now: Int64) {
        guard let timer = latency[sink] else { return }
        for enqueued in enqueuedNanoseconds { timer.recordNanoseconds(max(0, now - enqueued)) }
    }

    package func sinkLatency(sink: String, since start: ContinuousClock.Instant) {
        latency[sink]?.recordNanoseconds((ContinuousClock.now - start).wholeNanoseconds)
    }
}
