import Foundation
import KafkaSink
import TestSupport
import Testing

/// The limits of docs/security.md, each driven past its bound by a hostile
/// peer (Scripts/hostile.py) while real devices keep being served.
@Suite("Hardening: limits before and after authentication", .timeLimit(.minutes(5)))
struct HardeningLimitsTests {
    let peers = HardeningTests()

    func refused(_ metrics: [String: Double], _ transport: String, _ reason: String) -> Double? {
        metrics[#"tb_gateway_connections_refused_total{transport="\#(transport)",reason="\#(reason)"}"#]
    }

    /// 5,000 HTTP connections that send half a request line and 5,000 MQTT
    /// sockets that send nothing, from ten addresses. MQTT_MAX_CONNECTIONS
    /// is 100: before, the silent sockets counted against it and the real
    /// device was refused.
    @Test("slowloris: 5,000 idle HTTP connections and 5,000 MQTT sockets without CONNECT; real devices connect and are answered")
    func slowloris() async throws {
        let fixture = try await GatewayFixture.start([
            "MQTT_ENABLED": "true", "MQTT_MAX_CONNECTIONS": "100", "MQTT_CONNECT_TIMEOUT": "4",
            "HTTP_REQUEST_TIMEOUT": "2",
        ])
        let device = try await fixture.addDevice("real")
        let seen = try await peers.hostile([
            "slowloris", "127.0.0.1", "\(fixture.gateway.mqttPort)", "\(fixture.gateway.httpPort)", device.token,
            "5000", "5000", "10", "15",
        ])
        #expect(seen["real_mqtt_puback"] as? Bool == true, "\(seen)")
        #expect(seen["real_http"] as? String == "HTTP/1.1 200 OK", "\(seen)")
        let http = try #require(seen["http"] as? [String: Int])
        #expect(http["HTTP/1.1 408 Request Timeout"] == 5000, "\(http)")
        let mqtt = try #require(seen["mqtt"] as? [String: Int])
        #expect(mqtt["closed"] == 5000, "\(mqtt)")
        let metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "http", "request_timeout") == 5000)
        #expect(refused(metrics, "mqtt", "connect_timeout") == 5000)
        #expect(refused(metrics, "mqtt", "max_connections") == 0)
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        #expect(Set(records.compactMap { ($0.json["values"] as? [String: Any])?["real"] as? String }) == ["mqtt", "http"])
        try await fixture.stop()
    }

    @Test("MQTT_MAX_PENDING_PER_ADDRESS: one address's silent sockets past the cap are closed at once; another address still connects")
    func pendingPerAddress() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true", "MQTT_MAX_PENDING_PER_ADDRESS": "50"])
        let seen = try await peers.hostile(["pending-per-address", "127.0.0.1", "\(fixture.gateway.mqttPort)", "60"])
        let first = try #require(seen["first"] as? [String: Int])
        #expect(first["closed"] == 10 && first["still open"] == 50, "\(first)")
        #expect(seen["other_open"] as? Bool == true)
        let metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "mqtt", "per_address") == 10)
        try await fixture.stop()
    }

    @Test("HTTP_MAX_CONNECTIONS: the connection past the cap is answered 503 with Retry-After, counted; an idle keep-alive one is closed")
    func httpConnectionCap() async throws {
        let fixture = try await GatewayFixture.start(["HTTP_MAX_CONNECTIONS": "3", "HTTP_IDLE_TIMEOUT": "1"])
        let device = try await fixture.addDevice("capped")
        // Three idle connections hold every slot until HTTP_IDLE_TIMEOUT closes them.
        let sockets = (0..<3).map { _ in try? socketConnect(port: fixture.gateway.httpPort) }
        defer { for socket in sockets { if let socket { close(socket) } } }
        let refusedAnswer = try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"n":1}"#)
        #expect(refusedAnswer.status == 503 && refusedAnswer.headers["retry-after"] == "1")
        // The idle three are closed after a second; then a request goes through.
        #expect(try await eventually(timeout: .seconds(10)) {
            try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"n":2}"#).status == 200
        })
        let metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "http", "max_connections") ?? 0 >= 1)
        #expect(refused(metrics, "http", "idle_timeout") ?? 0 >= 3)
        try await fixture.stop()
    }

    /// Every reply is 20 KB and the device reads none of them. Before,
    /// the gateway kept reading requests, each a registry task and a reply
    /// queued in memory without bound.
    @Test("a device that floods attribute requests and never reads: RSS stays bounded, other devices are served")
    func attributeFlood() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        let flooder = try await fixture.addDevice("flooder")
        let bystander = try await fixture.addDevice("bystander")
        let big = String(repeating: "z", count: 20_000)
        let sqlite = try await runCommand("sqlite3", [
            fixture.directory + "/data/registry.sqlite",
            "INSERT INTO attributes (device_id, scope, key, value, updated_at) VALUES ('\(flooder.id)', 'shared', 'big', '\"\(big)\"', 0);",
        ])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")
        let before = try #require(fixture.gateway.residentKiB)
        async let flood = peers.hostile(["attr-flood", "127.0.0.1", "\(fixture.gateway.mqttPort)", flooder.token, "8"])
        var peak = before
        for _ in 0..<6 {
            try await Task.sleep(for: .seconds(1))
            peak = max(peak, fixture.gateway.residentKiB ?? 0)
            try await peers.stillServes(fixture, token: bystander.token)
        }
        let seen = try await flood
        peak = max(peak, fixture.gateway.residentKiB ?? 0)
        let sent = try #require(seen["requests_sent"] as? Int)
        // The socket buffers take some thousands of requests; the gateway
        // stops reading long before it would hold 20 KB for each.
        #expect(sent < 100_000, "\(seen)")
        #expect(peak - before < 100 * 1024, "RSS grew from \(before) KiB to \(peak) KiB")
        try await fixture.stop()
    }

    @Test("MQTT_MAX_SUBSCRIPTIONS: the filter past the cap gets SUBACK 0x97 on 5.0")
    func subscriptionCap() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true", "MQTT_MAX_SUBSCRIPTIONS": "2"])
        let device = try await fixture.addDevice("subscriber")
        let seen = try await peers.hostile([
            "subscribe-many", "127.0.0.1", "\(fixture.gateway.mqttPort)", device.token,
            "v1/devices/me/attributes", "v1/devices/me/rpc/request/+", "v1/devices/me/attributes/response/+",
        ])
        // QoS 1 asked for each: granted 1, 1, then 0x97 Quota exceeded.
        #expect(seen["codes"] as? [Int] == [1, 1, 0x97], "\(seen)")
        try await fixture.stop()
    }

    /// Any host that learns the client's port could write to it: the
    /// client served every request it got.
    @Test("LwM2M client role: a Write from an address other than the upstream server's is refused 4.03; the server's own Read works")
    func lwm2mClientStranger() async throws {
        let python = packageRoot() + "/.venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "make test creates .venv with aiocoap")
        let server = PeerProcess(python, [
            packageRoot() + "/Tests/IntegrationTests/Scripts/lwm2m_server.py", "--port", "0", "--timeout", "60",
        ])
        try server.start()
        defer { Task { await server.stop() } }
        let listening = try await server.waitFor("listening") { $0["event"] as? String == "listening" }
        let port = try #require(listening["port"] as? Int)
        let fixture = try await GatewayFixture.start([
            "LWM2M_CLIENT_ENABLED": "true", "LWM2M_CLIENT_SERVER_URI": "coap://127.0.0.1:\(port)", "LWM2M_CLIENT_ENDPOINT": "gw-guarded",
        ])
        _ = try await server.waitFor("register") { $0["event"] as? String == "register" }
        let started = try await fixture.gateway.waitForLog(message: "LwM2M client started")
        let clientPort = try #require(started["local_port"] as? String)
        for source in ["127.0.0.1", "127.0.0.2"] {
            let seen = try await peers.hostile(["coap-stranger", "127.0.0.1", clientPort, source])
            #expect(seen["code"] as? String == "4.03", "from \(source): \(seen)")
        }
        let start = server.events.count
        server.send(#"{"id":"r1","op":"read","path":"/3/0/0","timeout":5}"#)
        let read = try await server.waitFor(after: start, "read") { $0["id"] as? String == "r1" }
        #expect(read["code"] as? String == "2.05", "\(read)")
        let metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "lwm2m", "unknown_peer") == 2)
        try await fixture.stop()
        await server.stop()
    }
}

/// A plain TCP connection to 127.0.0.1:port that sends nothing.
func socketConnect(port: Int) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
        close(descriptor)
        throw POSIXError(.ECONNREFUSED)
    }
    return descriptor
}
