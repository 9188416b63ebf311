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
}
