import Foundation
import KafkaSink
import TestSupport
import Testing

/// Outside input that once took the whole gateway down, and the limits
/// that keep one device or one stranger from exhausting it (docs/security.md).
/// Hostile peers are raw sockets from Scripts/hostile.py.
@Suite("Hardening: hostile devices and strangers", .timeLimit(.minutes(4)))
struct HardeningTests {
    static let script = packageRoot() + "/Tests/IntegrationTests/Scripts/hostile.py"

    func hostile(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await runCommand("python3", [Self.script] + arguments)
        try #require(result.status == 0, "hostile.py \(arguments.first ?? ""): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    func metrics(_ fixture: GatewayFixture) async throws -> [String: Double] {
        parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
    }

    /// The gateway still takes a QoS 1 message from another device.
    func stillServes(_ fixture: GatewayFixture, token: String) async throws {
        #expect(fixture.gateway.isRunning, "the gateway process died")
        let published = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", token, "-q", "1",
            "-t", "v1/devices/me/telemetry", "-m", #"{"bystander":1}"#,
        ])
        #expect(published.status == 0, "\(published.stderr)")
    }

    /// Each request id makes its reply topic 65,536 bytes: one past what an
    /// MQTT string holds. The encoder trapped on it (writeMQTTString).
    @Test(
        "a request whose reply topic cannot be encoded is refused and counted, never a crash",
        arguments: [
            (4, 0, "attributes", "closed"), (5, 0, "attributes", "disconnect:0x90"), (5, 1, "attributes", "puback:0x90"),
            (4, 1, "session-limits", "closed"), (5, 0, "session-limits", "disconnect:0x90"),
            (5, 1, "session-limits", "puback:0x90"),
        ])
    func longReplyTopic(level: Int, qos: Int, kind: String, expected: String) async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        let attacker = try await fixture.addDevice("long-\(level)-\(qos)")
        let bystander = try await fixture.addDevice("bystander")
        let seen = try await hostile([
            "long-reply", "127.0.0.1", "\(fixture.gateway.mqttPort)", attacker.token, "\(level)", "\(qos)", kind,
        ])
        #expect(seen["answer"] as? String == expected, "\(seen)")
        try await stillServes(fixture, token: bystander.token)
        let counted = try await metrics(fixture)
        #expect(counted[#"tb_gateway_messages_dropped_total{reason="answer_too_large"}"#] == 1)
        try await fixture.stop()
    }

    /// The look-up of a token not in the cache outlived the connection:
    /// the HTTP handler unwrapped its gone context (storeThenSubmit,
    /// readAttributes).
    @Test("HTTP connections reset while their token is looked up: dropped, the gateway serves on")
    func closedDuringLookup() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        var tokens: [String] = []
        for index in 0..<30 { tokens.append(try await fixture.addDevice("late-\(index)").token) }
        let seen = try await hostile(["close-during-lookup", "\(fixture.gateway.httpPort)"] + tokens)
        #expect(seen["sent"] as? Int == 30)
        // Every look-up has come back by now (they take milliseconds).
        try await Task.sleep(for: .seconds(1))
        #expect(fixture.gateway.isRunning, "the gateway process died")
        let answer = try await fixture.post("/api/v1/\(tokens[1])/attributes", #"{"after":1}"#)
        #expect(answer.status == 200)
        let bystander = try await fixture.addDevice("bystander")
        try await stillServes(fixture, token: bystander.token)
        try await fixture.stop()
    }

    @Test("AUTH_FAILURES_PER_ADDRESS: wrong tokens from one address stop being looked up (HTTP 429, CONNACK 0x9F, CoAP 4.29); cached devices there keep working")
    func tokenGuessing() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true", "COAP_ENABLED": "true", "AUTH_FAILURES_PER_ADDRESS": "3"])
        let cached = try await fixture.addDevice("cached")
        let later = try await fixture.addDevice("later")
        #expect(try await fixture.post("/api/v1/\(cached.token)/telemetry", #"{"n":1}"#).status == 200)
        for guess in 0..<3 {
            #expect(try await fixture.post("/api/v1/guess-\(guess)-of-an-access-token/telemetry", #"{"n":1}"#).status == 401)
        }
        // Blocked: no look-up for any token not in the cache, a real one included.
        #expect(try await fixture.post("/api/v1/guess-3-of-an-access-token/telemetry", #"{"n":1}"#).status == 429)
        #expect(try await fixture.post("/api/v1/\(later.token)/telemetry", #"{"n":1}"#).status == 429)
        let mqtt = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", "guess-4-of-an-access-token", "-q", "1", "-V", "mqttv5",
            "-t", "v1/devices/me/telemetry", "-m", "{}",
        ])
        #expect(mqtt.status != 0 && mqtt.stderr.lowercased().contains("connection rate exceeded"), "\(mqtt.stderr)")
        let coap = try await runCommand(packageRoot() + "/.venv/bin/python", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/coap_client.py", "request", "--port", "\(fixture.gateway.coapPort)",
            "--method", "POST", "--path", "/api/v1/guess-5-of-an-access-token/telemetry", "--payload={}", "--content-format", "50",
        ])
        #expect(coap.stdout.hasPrefix("4.29"), "\(coap.stdout) \(coap.stderr)")
        // The device whose token is cached is served as before.
        #expect(try await fixture.post("/api/v1/\(cached.token)/telemetry", #"{"n":2}"#).status == 200)
        try await stillServes(fixture, token: cached.token)
        let counted = try await metrics(fixture)
        #expect(counted[#"tb_gateway_connections_refused_total{transport="http",reason="throttled"}"#] == 2)
        #expect(counted[#"tb_gateway_connections_refused_total{transport="mqtt",reason="throttled"}"#] == 1)
        #expect(counted[#"tb_gateway_connections_refused_total{transport="coap",reason="throttled"}"#] == 1)
        try await fixture.stop()
    }

    @Test("wrong admin keys from one address: 429 with Retry-After after AUTH_FAILURES_PER_ADDRESS, the right key included")
    func adminKeyGuessing() async throws {
        let key = "an-admin-key-for-the-throttle-test"
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": key, "AUTH_FAILURES_PER_ADDRESS": "3"])
        func list(_ bearer: String) async throws -> HTTPAnswer {
            try await curl("GET", fixture.gateway.adminURL + "/api/devices", headers: ["Authorization": "Bearer \(bearer)"])
        }
        #expect(try await list(key).status == 200)
        for guess in 0..<3 { #expect(try await list("guess-\(guess)").status == 401) }
        let blocked = try await list(key)
        #expect(blocked.status == 429 && blocked.headers["retry-after"] == "60")
        let counted = try await metrics(fixture)
        #expect(counted[#"tb_gateway_connections_refused_total{transport="admin",reason="throttled"}"#] == 1)
        try await fixture.stop()
    }

    @Test("operator-chosen tokens shorter than 20 characters are refused by the admin API, device add and device import")
    func shortChosenTokens() async throws {
        let key = "an-admin-key-for-the-token-test"
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": key])
        let created = try await curl(
            "POST", fixture.gateway.adminURL + "/api/devices", body: #"{"name":"short","token":"short-token-19-char"}"#,
            headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/json"])
        #expect(created.status == 400 && created.body.contains("at least 20 characters"), "\(created.body)")
        let added = try await fixture.gateway.cli(["device", "add", "short-cli", "--token", "abc"])
        #expect(added.status != 0 && added.stderr.contains("at least 20 characters"), "\(added.stderr)")
        #expect(try await fixture.addDevice("long-enough", token: "a-token-of-twenty-one").token == "a-token-of-twenty-one")
        let imported = try await runCommand(
            GatewayProcess.binary, ["device", "import", "-"], environment: fixture.gateway.environment,
            directory: fixture.gateway.directory, input: Data("imported,sensor,short-one\n".utf8))
        #expect(imported.status != 0 && imported.stderr.contains("at least 20 characters"), "\(imported.stderr)")
        let allowed = try await runCommand(
            GatewayProcess.binary, ["device", "import", "--allow-short-tokens", "-"], environment: fixture.gateway.environment,
            directory: fixture.gateway.directory, input: Data("load-1,bench,load-1\n".utf8))
        #expect(allowed.status == 0 && allowed.stdout == "load-1,load-1\n", "\(allowed.stderr)")
        try await fixture.stop()
    }

    /// A device chooses its topic; logged raw, a newline in it would start
    /// a line of the device's making in a text log.
    @Test("text logs: a device-chosen topic with a newline cannot forge a line; a 5,000-byte topic is cut at 1 KiB")
    func logEscaping() async throws {
        let (http, metrics, mqtt) = (try freePort(), try freePort(), try freePort())
        let fixture = try await GatewayFixture.start([
            "LOG_FORMAT": "text", "MQTT_ENABLED": "true", "HTTP_BIND_PORT": "\(http)", "METRICS_PORT": "\(metrics)",
            "MQTT_BIND_PORT": "\(mqtt)",
        ])
        let device = try await fixture.addDevice("chatty")
        let forged = "2026-01-01 00:00:00 - CRITICAL - forged by a device"
        for topic in ["v1/devices/me/x\n" + forged + "\r\u{1b}[31m", "v1/devices/me/" + String(repeating: "y", count: 5000)] {
            // mosquitto_pub refuses control characters in a topic; a raw socket does not.
            #expect(try await eventually(timeout: .seconds(10)) {
                try await runCommand("python3", [
                    HardeningQuotaTests.script, "publish-answer", "127.0.0.1", "\(mqtt)", device.token, "4", topic, "{}",
                ]).stdout.contains("closed")
            })
        }
        #expect(try await eventually(timeout: .seconds(10)) {
            fixture.gateway.rawLogs.filter { $0.contains("MQTT publish to a topic outside the device API") }.count >= 2
        })
        let lines = fixture.gateway.rawLogs
        #expect(!lines.contains { $0.hasPrefix(forged) || $0.contains("\u{1b}") }, "a raw device byte reached the log")
        #expect(lines.contains { $0.contains(#"topic=v1/devices/me/x\n\#(forged)\r\x1b[31m"#) }, "\(lines.suffix(5))")
        let long = try #require(lines.first { $0.contains("topic=v1/devices/me/yyy") })
        #expect(long.contains("…(5014 bytes)") && long.utf8.count < 1500, "\(long.utf8.count) bytes")
        try await fixture.stop()
    }

    /// Found by Scripts/extreme.py: these were closed without a word.
    @Test("a CONNECT of a protocol level the gateway does not speak gets CONNACK 0x01, then the close (MQTT-3.1.2-2)", arguments: [
        ("MQTT", 6), ("MQTT", 0), ("MQIsdp", 3), ("MQTT", 255),
    ])
    func unsupportedLevel(name: String, level: Int) async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        let seen = try await runCommand("python3", [
            HardeningQuotaTests.script, "connect-level", "127.0.0.1", "\(fixture.gateway.mqttPort)", name, "\(level)",
        ])
        #expect(seen.stdout.contains(#"{"answer": "20020001", "closed": true}"#), "\(seen.stdout) \(seen.stderr)")
        try await fixture.stop()
    }

    /// Found by Scripts/extreme.py: both were answered 200.
    @Test("HTTP: two Host fields and a NUL in a field value are answered 400 (RFC 9112 §3.2, RFC 9110 §5.5); one Host is served")
    func hostAndNul() async throws {
        let fixture = try await GatewayFixture.start()
        let device = try await fixture.addDevice("heady")
        func status(_ head: String) async throws -> String? {
            let result = try await runCommand("python3", [
                HardeningQuotaTests.script, "http-raw", "127.0.0.1", "\(fixture.gateway.httpPort)",
                "POST /api/v1/\(device.token)/telemetry HTTP/1.1\\r\\n" + head + "Content-Length: 7\\r\\n\\r\\n{\"n\":1}",
            ])
            return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["status"] as? String
        }
        #expect(try await status("Host: a\\r\\nHost: b\\r\\n") == "HTTP/1.1 400 Bad Request")
        #expect(try await status("Host: a\\r\\nX-Note: a\\0b\\r\\n") == "HTTP/1.1 400 Bad Request")
        #expect(try await status("Host: a\\r\\n") == "HTTP/1.1 200 OK")
        try await fixture.stop()
    }
}
