import Foundation
import KafkaSink
import TestSupport
import Testing

/// Handler-level robustness as a class (issue 33, item 5): generated
/// sequences of valid-but-extreme requests on every device transport, from
/// Scripts/extreme.py (raw sockets, bytes written from the specifications).
/// The longest topics, ids and URLs, the largest counts, boundary numbers,
/// MQTT 5.0 properties at their bounds, CoAP options past their ranges,
/// connections closed mid-request. Every case must end in an answer or a
/// close, never a wait, and afterwards a normal device is served.
@Suite("Extreme sequences: every request answered or closed, the gateway serves on", .timeLimit(.minutes(3)))
struct ExtremeSequenceTests {
    static let script = packageRoot() + "/Tests/IntegrationTests/Scripts/extreme.py"

    /// The seed makes the cases reproducible: a failure names its cases
    /// ("mqtt#17 …"); `extreme.py … 33 150 --only mqtt:17 --verbose` replays one.
    static let seed = "33"
    static let count = 150

    func extreme(_ fixture: GatewayFixture, token: String) async throws -> [String: Any] {
        let venv = packageRoot() + "/.venv/bin/python"
        let python = FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
        let gateway = fixture.gateway
        let result = try await runCommand(
            python,
            [
                Self.script, "127.0.0.1", "\(gateway.mqttPort)", "\(gateway.httpPort)", "\(gateway.coapPort)", token,
                Self.seed, "\(Self.count)",
            ],
            timeout: .seconds(150))
        try #require(result.status == 0, "extreme.py: \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    @Test("150 generated extreme cases per transport: none times out, every well-formed CON is answered; a normal device is served after")
    func extremeSequences() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true", "COAP_ENABLED": "true"])
        let device = try await fixture.addDevice("extreme")
        let seen = try await extreme(fixture, token: device.token)
        let hung = seen["hung"] as? [String] ?? []

        #expect(fixture.gateway.isRunning, "the gateway process died:\n\(fixture.gateway.rawLogs.suffix(50).joined(separator: "\n"))")
        let health = try #require(seen["health"] as? [String: Any], "\(seen)")
        for transport in ["mqtt", "http", "coap"] {
            #expect(health[transport] as? Bool == true, "\(transport): a normal device was not served after the cases: \(seen)")
        }

        // TCP: each case got every answer it waited for, or a close (its own
        // close mid-request included); a held long-poll is an answer to come.
        for transport in ["mqtt", "http"] {
            let tally = try #require(seen[transport] as? [String: Any], "\(seen)")
            let cases = tally["cases"] as? Int ?? 0
            let ended = (tally["answered"] as? Int ?? 0) + (tally["closed"] as? Int ?? 0) + (tally["held"] as? Int ?? 0)
            #expect(cases == Self.count, "\(transport): \(tally)")
            #expect(tally["timeouts"] as? Int == 0, "\(transport) cases without an answer or a close: \(hung)")
            #expect(ended == cases, "\(transport): \(tally)")
        }
        // CoAP: a CON of valid format is answered (ACK, RST or a separate
        // response, RFC 7252 §4.2); NON, ACK, RST and format errors may be ignored.
        let coap = try #require(seen["coap"] as? [String: Any], "\(seen)")
        let confirmable = coap["con_valid"] as? Int ?? 0
        #expect(coap["cases"] as? Int == Self.count, "\(coap)")
        #expect(confirmable > 0, "\(coap)")
        #expect(coap["con_valid_answered"] as? Int == confirmable, "CON requests without an answer: \(hung)")
        #expect(coap["timeouts"] as? Int == 0, "\(coap)")

        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics")
        #expect(metrics.status == 200)
        // Malformed framing among the cases (HTTP 400s, CoAP format errors) is counted.
        #expect(parseMetrics(metrics.body)[#"tb_gateway_errors_total{kind="transport"}"#] ?? 0 > 0)

        // The health check's three messages reached Kafka.
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        let healthRecords = Set(records.compactMap { ($0.json["values"] as? [String: Any])?["extreme_health"] as? String })
        #expect(healthRecords == ["mqtt", "http", "coap"], "\(records.count) telemetry records")
        try await fixture.stop()
    }
}
