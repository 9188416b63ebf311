import Foundation
import KafkaSink
import TestSupport
import Testing

/// `tb-gateway bench verify` against topics crafted with kcat on
/// librdkafka's mock cluster.
@Suite("bench verify on a crafted topic")
struct BenchVerifyTests {
    func produce(_ kafka: EmbeddedKafkaCluster, _ topic: String, _ lines: [String]) async throws {
        let result = try await runCommand(
            "kcat", ["-b", kafka.bootstrapServers, "-P", "-t", topic, "-K", "|"], input: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(result.status == 0, "\(result.stderr)")
    }

    func record(_ device: String, _ seq: Int, ts: Int64 = 1_700_000_000_000) -> String {
        #"\#(device)|{"deviceId":"\#(device)","deviceName":"n","deviceType":"t","ts":\#(ts),"values":{"seq":\#(seq),"ts":\#(ts)},"transport":"mqtt","receivedAt":\#(ts)}"#
    }

    func verify(_ kafka: EmbeddedKafkaCluster, _ topic: String) async throws -> (CommandResult, [String: Any]) {
        let result = try await runCommand(
            GatewayProcess.binary, ["bench", "verify", "--bootstrap-servers", kafka.bootstrapServers, "--topic", topic, "--json", "--timeout", "30"])
        let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        return (result, json)
    }

    @Test("missing, duplicated and out-of-order sequence numbers are found per device; exit 1")
    func problems() async throws {
        let kafka = try EmbeddedKafkaCluster(topics: ["bench.bad"], partitions: 2)
        try await produce(kafka, "bench.bad", [
            record("d1", 1), record("d1", 2), record("d1", 2), record("d1", 4),
            record("d2", 1), record("d2", 3), record("d2", 2),
            "d3|not a record",
        ])
        let (result, json) = try await verify(kafka, "bench.bad")
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(json["records"] as? Int == 8 && json["unreadable"] as? Int == 1 && json["devices"] as? Int == 2, "\(result.stdout)")
        #expect(json["missing"] as? Int == 1 && json["duplicates"] as? Int == 1 && json["outOfOrder"] as? Int == 1, "\(result.stdout)")
        let problems = try #require(json["problems"] as? [String: [String: [Int]]], "\(result.stdout)")
        #expect(problems["d1"] == ["missing": [3], "duplicates": [2], "outOfOrder": []])
        #expect(problems["d2"] == ["missing": [], "duplicates": [], "outOfOrder": [2]])
    }

    @Test("a complete topic passes with exit 0")
    func complete() async throws {
        let kafka = try EmbeddedKafkaCluster(topics: ["bench.good"], partitions: 2)
        try await produce(kafka, "bench.good", (1...50).flatMap { [record("e1", $0), record("e2", $0)] })
        let (result, json) = try await verify(kafka, "bench.good")
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(json["records"] as? Int == 100 && json["passed"] as? Bool == true, "\(result.stdout)")
    }

    @Test("bench http --provision: every request acknowledged, and bench verify finds each device's sequence complete in Kafka")
    func httpRun() async throws {
        let fixture = try await GatewayFixture.start()
        let run = try await fixture.gateway.cli([
            "bench", "http", "--url", fixture.gateway.baseURL, "--tokens-pattern", "bench-{n}", "--devices", "5", "--provision",
            "--connections", "3", "--count", "300", "--size", "100", "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("5 devices provisioned"), "\(run.stderr)")
        let result = try #require((try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any], "\(run.stdout)")
        #expect(result["sent"] as? Int == 300 && result["acknowledged"] as? Int == 300 && result["errors"] as? Int == 0, "\(run.stdout)")
        #expect((result["latencyMs"] as? [String: Any])?["p99"] != nil)
        // Every record of the run, exactly once and in order per device.
        var json: [String: Any] = [:]
        #expect(try await eventually(timeout: .seconds(15)) {
            json = try await verify(fixture.kafka, "tb.telemetry").1
            return json["records"] as? Int == 300
        }, "\(json)")
        #expect(json["passed"] as? Bool == true && json["devices"] as? Int == 5, "\(json)")
        // A paced run by duration prints a progress line every second on standard error.
        let paced = try await fixture.gateway.cli([
            "bench", "http", "--url", fixture.gateway.baseURL, "--devices", "5", "--connections", "2", "--duration", "2.5", "--rate", "40", "--json",
        ])
        #expect(paced.status == 0, "\(paced.stderr)")
        #expect(paced.stderr.contains("bench http: t=1s sent") && paced.stderr.contains("bench http: t=2s sent"), "\(paced.stderr)")
        let pacedResult = (try? JSONSerialization.jsonObject(with: Data(paced.stdout.utf8))) as? [String: Any] ?? [:]
        #expect((pacedResult["sent"] as? Int ?? 0) > 0 && pacedResult["acknowledged"] as? Int == pacedResult["sent"] as? Int, "\(paced.stdout)")
        try await fixture.stop()
    }
}
