import Foundation
import TestSupport
import Testing

/// A sink that stalls fills the processor's queue; transports then hold
/// back what devices send instead of dropping it.
@Suite("Backpressure", .timeLimit(.minutes(3)))
struct BackpressureTests {
    @Test("QoS 0 messages a client sent before its DISCONNECT and FIN, held back while the queue was full, are all forwarded in order")
    func heldBackBeforeClose() async throws {
        // The HTTP backend answers 503 six times (the sink retries the
        // batch with back-off, some seconds), so the 16-message queue fills and the MQTT connection
        // stops reading while the client has long finished sending.
        let backend = try await RecordingHTTPServer()
        backend.script(Array(repeating: 503, count: 6))
        let fixture = try await GatewayFixture.start([
            "MQTT_ENABLED": "true", "KAFKA_ENABLED": "false", "TB_HOST": "127.0.0.1", "TB_PORT": String(backend.port),
            // BATCH_TIMEOUT above the stall: queued messages wait instead of failing.
            "QUEUE_CAPACITY": "16", "BATCH_SIZE": "4", "HTTP_SINK_TIMEOUT": "60", "BATCH_TIMEOUT": "60",
        ])
        let device = try await fixture.addDevice("held-back-1")
        // mosquitto_pub -l publishes a line per message, then DISCONNECT, and exits.
        let pad = String(repeating: "x", count: 100)
        let lines = (1...2000).map { #"{"seq":\#($0),"pad":"\#(pad)"}"# }.joined(separator: "\n") + "\n"
        let publish = try await runCommand(
            "mosquitto_pub",
            ["-h", "127.0.0.1", "-p", String(fixture.gateway.mqttPort), "-u", device.token, "-t", "v1/devices/me/telemetry", "-q", "0", "-l"],
            input: Data(lines.utf8), timeout: .seconds(60))
        #expect(publish.status == 0, "\(publish.stderr)")
        var seqs: [Int] = []
        #expect(try await eventually(timeout: .seconds(60)) {
            seqs = backend.requests.filter { $0.uri.hasSuffix("/telemetry") && $0.method == "POST" }.flatMap(Self.seqs)
            // 503 answers were retried: count each batch once, by its last accepted try.
            seqs = Self.uniqueInOrder(seqs)
            return seqs.count >= 2000
        }, "\(seqs.count) of 2000 forwarded")
        #expect(seqs == Array(1...2000), "every message once and in order")
        // Held back is not dropped: nothing is counted as a queue_full drop.
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_messages_dropped_total{reason="queue_full"} 0"#), "\(metrics)")
        #expect(metrics.contains(#"tb_gateway_messages_received_total{transport="mqtt"} 2000"#), "\(metrics)")
        try await fixture.stop()
        try await backend.close()
    }

    static func seqs(_ request: RecordingHTTPServer.Request) -> [Int] {
        guard let batch = (try? JSONSerialization.jsonObject(with: Data(request.body.utf8))) as? [[String: Any]] else { return [] }
        return batch.compactMap { (($0["values"] as? [String: Any])?["seq"] as? NSNumber)?.intValue }
    }

    /// Retried batches repeat their messages; keep each sequence number's first appearance.
    static func uniqueInOrder(_ values: [Int]) -> [Int] {
        var seen = Set<Int>()
        return values.filter { seen.insert($0).inserted }
    }
}
