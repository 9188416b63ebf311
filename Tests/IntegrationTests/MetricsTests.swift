import Foundation
import KafkaSink
import TestSupport
import Testing

/// Parses Prometheus text exposition into `series -> value`.
func parseMetrics(_ text: String) -> [String: Double] {
    var values: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        values[String(line[..<space])] = value
    }
    return values
}

@Suite("Operations: metrics, health, readiness, logs", .timeLimit(.minutes(3)))
struct OperationsTests {
    @Test("traffic of every kind shows in /metrics under the documented names")
    func metrics() async throws {
        let fixture = try await GatewayFixture.start([
            "MAX_PAYLOAD_SIZE": "100", "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_REQUESTS_PER_SECOND": "1", "RATE_LIMIT_BURST": "5",
        ])
        let device = try await fixture.addDevice("metered")
        let path = "/api/v1/\(device.token)/telemetry"
        for _ in 0..<3 { #expect(try await fixture.post(path, #"{"t":1}"#).status == 200) }
        #expect(try await fixture.post(path, "{oops").status == 400)
        #expect(try await fixture.post(path, #"{"blob":""# + String(repeating: "y", count: 200) + #""}"#).status == 413)
        #expect(try await fixture.post("/api/v1/nobody/telemetry", #"{"t":1}"#).status == 401)
        #expect(try await fixture.post("/api/v1/nobody/telemetry", #"{"t":1}"#).status == 401)
        // Burst 5: three 200s and one 400 used four tokens (the 413 is
        // refused from its Content-Length before authentication).
        var limited = 0
        for _ in 0..<4 where try await fixture.post(path, #"{"t":1}"#).status == 429 { limited += 1 }
        #expect(limited >= 2)

        let scrape = try await curl("GET", fixture.gateway.metricsURL + "/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.headers["content-type"]?.hasPrefix("text/plain") == true)
        let metrics = parseMetrics(scrape.body)
        let sent = metrics[#"tb_gateway_messages_sent_total{sink="kafka"}"#] ?? 0
        // Received counts authenticated requests: 3 + 1 (400) + 4 (the
        // rate-limit loop); the 413 was refused from its Content-Length first.
        #expect(metrics[#"tb_gateway_messages_received_total{transport="http"}"#] == 8)
        #expect(sent == Double(3 + (4 - limited)))
        #expect(metrics[#"tb_gateway_messages_dropped_total{reason="invalid_payload"}"#] == 1)
        #expect(metrics[#"tb_gateway_messages_dropped_total{reason="payload_too_large"}"#] == 1)
        #expect(metrics[#"tb_gateway_messages_dropped_total{reason="rate_limited"}"#] == Double(limited))
        #expect(metrics[#"tb_gateway_messages_dropped_total{reason="queue_full"}"#] == 0)
        #expect(metrics[#"tb_gateway_auth_failures_total{transport="http"}"#] == 2)
        #expect(metrics[#"tb_gateway_auth_failures_total{transport="mqtt"}"#] == 0)
        #expect(metrics[#"tb_gateway_devices_connected{transport="http"}"#] == 0)
        #expect(metrics[#"tb_gateway_errors_total{kind="sink"}"#] == 0)
        #expect(metrics["tb_gateway_queue_depth"] == 0)
        #expect(metrics["tb_gateway_batch_size_count"] == sent)
        #expect(metrics[#"tb_gateway_sink_latency_seconds_count{sink="kafka"}"#] == sent)
        #expect((metrics[#"tb_gateway_sink_latency_seconds_sum{sink="kafka"}"#] ?? 0) > 0)
        // Two look-ups of "nobody" (one miss, then the negative cache) and
        // one miss for the device, hits for the rest.
        #expect(metrics["tb_gateway_auth_cache_misses_total"] == 2)
        #expect(metrics["tb_gateway_auth_cache_hits_total"] == 8)
        #expect(metrics[#"tb_gateway_build_info{version="0.1.0"}"#] == 1)
        try await fixture.stop()
    }

    @Test("MQTT QoS 0 and connectivity events, whose reports nobody waits for, are counted as sent and timed once each")
    func unansweredCounted() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        let device = try await fixture.addDevice("unanswered")
        // 50 one-record messages and one message of two records, at QoS 0,
        // between a connected and a disconnected event: 53 messages.
        let lines = (1...50).map { #"{"seq":\#($0)}"# }
            + [#"[{"ts":1700000000000,"values":{"seq":51}},{"ts":1700000000001,"values":{"seq":52}}]"#]
        let publish = try await runCommand(
            "mosquitto_pub",
            ["-h", "127.0.0.1", "-p", String(fixture.gateway.mqttPort), "-u", device.token, "-t", "v1/devices/me/telemetry", "-q", "0", "-l"],
            input: Data((lines.joined(separator: "\n") + "\n").utf8), timeout: .seconds(30))
        #expect(publish.status == 0, "\(publish.stderr)")
        var metrics: [String: Double] = [:]
        #expect(try await eventually(timeout: .seconds(20)) {
            metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
            return metrics[#"tb_gateway_messages_sent_total{sink="kafka"}"#] == 53
        }, "\(metrics)")
        #expect(metrics[#"tb_gateway_messages_received_total{transport="mqtt"}"#] == 51)
        #expect(metrics[#"tb_gateway_sink_latency_seconds_count{sink="kafka"}"#] == 53)
        #expect(metrics[#"tb_gateway_errors_total{kind="sink"}"#] == 0)
        try await fixture.stop()
    }

    @Test("/health on both ports; /ready follows the Kafka broker")
    func readiness() async throws {
        let fixture = try await GatewayFixture.start()
        #expect(try await curl("GET", fixture.gateway.metricsURL + "/health").status == 200)
        #expect(try await curl("GET", fixture.gateway.baseURL + "/health").status == 200)
        let ready = try await curl("GET", fixture.gateway.metricsURL + "/ready")
        #expect(ready.status == 200)
        #expect(ready.body == #"{"ready":true,"registry":true,"sink":true}"#)

        fixture.kafka.setBrokerDown()
        #expect(try await eventually(timeout: .seconds(20)) {
            let answer = try await curl("GET", fixture.gateway.metricsURL + "/ready")
            return answer.status == 503 && answer.body == #"{"ready":false,"registry":true,"sink":false}"#
        })
        fixture.kafka.setBrokerUp()
        #expect(try await eventually(timeout: .seconds(20)) {
            try await curl("GET", fixture.gateway.metricsURL + "/ready").status == 200
        })
        try await fixture.stop()
    }

    @Test("LOG_FORMAT=json: one object per line with timestamp, level, message and metadata")
    func jsonLogs() async throws {
        let fixture = try await GatewayFixture.start()
        _ = try await fixture.post("/api/v1/not-a-device/telemetry", #"{"t":1}"#)
        try await fixture.stop()
        let lines = fixture.gateway.rawLogs
        #expect(lines.count >= 5)
        let timestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect((object["timestamp"] as? String)?.wholeMatch(of: timestamp) != nil, "\(line)")
            #expect(["TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"].contains(object["level"] as? String ?? ""))
            #expect(object["message"] is String)
        }
        let failure = try #require(fixture.gateway.logs.first { $0["message"] as? String == "HTTP device authentication failed" })
        #expect(failure["level"] as? String == "WARNING")
        #expect(failure["transport"] as? String == "http")
        #expect((failure["remote_address"] as? String)?.contains("127.0.0.1") == true)
        #expect(!lines.joined().contains("not-a-device"), "tokens are never logged")
    }

    @Test("LOG_FORMAT=text: '2024-01-15 10:30:00 - INFO - message'; LOG_LEVEL filters")
    func textLogs() async throws {
        // At LOG_LEVEL=warning the "listening" lines are filtered out, so the
        // ports are chosen here and readiness is polled.
        let fixture = try await GatewayFixture.start([
            "LOG_FORMAT": "text", "LOG_LEVEL": "warning",
            "HTTP_BIND_PORT": String(try freePort()), "METRICS_PORT": String(try freePort()),
        ])
        _ = try await fixture.post("/api/v1/not-a-device/telemetry", #"{"t":1}"#)
        try await Task.sleep(for: .milliseconds(200))
        let lines = fixture.gateway.rawLogs
        _ = try await fixture.gateway.terminate()
        let format = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - (WARNING|ERROR|CRITICAL) - .+$/
        #expect(!lines.isEmpty)
        for line in lines { #expect(line.wholeMatch(of: format) != nil, "\(line)") }
        #expect(lines.contains { $0.contains("- WARNING - HTTP device authentication failed") })
        #expect(!lines.contains { $0.contains(" - INFO - ") }, "INFO is filtered at LOG_LEVEL=warning")
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
