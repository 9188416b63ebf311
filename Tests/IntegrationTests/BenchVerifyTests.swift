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

    func verify(_ kafka: EmbeddedKafkaCluster, _ topic: String, _ extra: [String] = []) async throws -> (CommandResult, [String: Any]) {
        let result = try await runCommand(
            GatewayProcess.binary, ["bench", "verify", "--bootstrap-servers", kafka.bootstrapServers, "--topic", topic, "--json", "--timeout", "30"] + extra)
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
            "--connections", "3", "--count", "300", "--size", "100", "--json", "--acknowledged", fixture.directory + "/http-acked.txt",
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
        let (exact, exactJSON) = try await verify(fixture.kafka, "tb.telemetry", ["--acknowledged", fixture.directory + "/http-acked.txt"])
        #expect(exact.status == 0 && exactJSON["devices"] as? Int == 5 && exactJSON["missing"] as? Int == 0, "\(exact.stdout)")
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

    func runJSON(_ fixture: GatewayFixture, _ arguments: [String]) async throws -> (CommandResult, [String: Any]) {
        let run = try await fixture.gateway.cli(["bench"] + arguments + ["--json"])
        let json = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
        return (run, json)
    }

    /// Reads the topic until it holds `count` records; returns the verifier's summary.
    func verifyAll(_ fixture: GatewayFixture, _ topic: String, count: Int) async throws -> [String: Any] {
        var json: [String: Any] = [:]
        _ = try await eventually(timeout: .seconds(20)) {
            json = try await verify(fixture.kafka, topic).1
            return json["records"] as? Int == count
        }
        return json
    }

    @Test("bench mqtt: QoS 1 on 3.1.1, QoS 2 on 5.0 and QoS 0, each acknowledged message in Kafka exactly once and in order; refused tokens counted by CONNACK code; idle connections held")
    func mqttRun() async throws {
        // A small queue, so that the QoS 0 flood meets backpressure: what a
        // client sent before its DISCONNECT and FIN is still forwarded.
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true", "QUEUE_CAPACITY": "64"])
        let url = "mqtt://127.0.0.1:\(fixture.gateway.mqttPort)"
        let acked = fixture.directory + "/acked.txt"
        let (qos1, one) = try await runJSON(fixture, [
            "mqtt", "--url", url, "--devices", "4", "--provision", "--qos", "1", "--window", "8", "--count", "400", "--quiet", "--acknowledged", acked,
        ])
        #expect(qos1.status == 0, "\(qos1.stderr)")
        #expect(one["sent"] as? Int == 400 && one["acknowledged"] as? Int == 400 && one["connected"] as? Int == 4, "\(qos1.stdout)")
        #expect((one["latencyMs"] as? [String: Any])?["p99"] != nil && (one["connectMs"] as? [String: Any])?["p50"] != nil, "\(qos1.stdout)")
        let afterOne = try await verifyAll(fixture, "tb.telemetry", count: 400)
        #expect(afterOne["passed"] as? Bool == true && afterOne["devices"] as? Int == 4, "\(afterOne)")
        // The acknowledgement list names each message once, by token: 1…n per device.
        let lines = try String(contentsOfFile: acked, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        let perDevice = Dictionary(grouping: lines, by: { String($0[0]) }).mapValues { $0.compactMap { Int($0[1]) } }
        #expect(lines.count == 400 && perDevice.count == 4, "\(lines.prefix(5))")
        #expect(perDevice.values.allSatisfy { $0 == Array(1...$0.count) }, "\(perDevice.mapValues(\.count))")
        let (exact, exactJSON) = try await verify(fixture.kafka, "tb.telemetry", ["--acknowledged", acked])
        #expect(exact.status == 0 && exactJSON["missing"] as? Int == 0, "\(exact.stdout)")
        // A message acknowledged but not in Kafka is reported missing (exit 1).
        try (String(contentsOfFile: acked, encoding: .utf8) + "bench-2 5000\n").write(toFile: acked, atomically: true, encoding: .utf8)
        let (gap, gapJSON) = try await verify(fixture.kafka, "tb.telemetry", ["--acknowledged", acked])
        #expect(gap.status == 1 && gapJSON["missing"] as? Int == 1, "\(gap.stdout)")

        // The same devices again on 5.0 at QoS 2: their sequences start over,
        // so this run goes to devices 5-8 instead.
        let (qos2, two) = try await runJSON(fixture, [
            "mqtt", "--url", url, "--tokens-pattern", "q2-{n}", "--devices", "4", "--provision", "--qos", "2", "--protocol-version", "5",
            "--window", "4", "--count", "200", "--quiet",
        ])
        #expect(qos2.status == 0, "\(qos2.stderr)")
        #expect(two["sent"] as? Int == 200 && two["acknowledged"] as? Int == 200 && two["unanswered"] as? Int == 0, "\(qos2.stdout)")
        let (qos0, zero) = try await runJSON(fixture, [
            "mqtt", "--url", url, "--tokens-pattern", "q0-{n}", "--devices", "2", "--provision", "--qos", "0", "--count", "5000", "--quiet",
        ])
        #expect(qos0.status == 0 && zero["sent"] as? Int == 5000 && zero["acknowledged"] as? Int == 5000, "\(qos0.stdout) \(qos0.stderr)")
        let all = try await verifyAll(fixture, "tb.telemetry", count: 5600)
        #expect(all["passed"] as? Bool == true && all["devices"] as? Int == 10, "\(all)")

        // Tokens the registry does not know: refused at CONNECT, by code.
        let (_, v3) = try await runJSON(fixture, ["mqtt", "--url", url, "--tokens-pattern", "nobody-{n}", "--devices", "3", "--count", "10", "--quiet"])
        #expect(v3["refused"] as? [String: Int] == ["connack_0x05": 3] && v3["sent"] as? Int == 0, "\(v3)")
        let (_, v5) = try await runJSON(fixture, [
            "mqtt", "--url", url, "--tokens-pattern", "nobody-{n}", "--devices", "2", "--count", "10", "--protocol-version", "5", "--quiet",
        ])
        #expect(v5["refused"] as? [String: Int] == ["connack_0x87": 2], "\(v5)")

        // Idle: every device connected and held, nothing published.
        let (idle, held) = try await runJSON(fixture, ["mqtt", "--url", url, "--devices", "4", "--idle", "--duration", "1", "--quiet"])
        #expect(idle.status == 0 && held["connected"] as? Int == 4 && held["sent"] as? Int == 0 && held["errors"] as? Int == 0, "\(idle.stdout)")
        try await fixture.stop()
    }

    @Test("bench coap: confirmable POSTs with a window, all acknowledged and in Kafka exactly once and in order, retransmissions reported; an unknown token is refused 4.01")
    func coapRun() async throws {
        let fixture = try await GatewayFixture.start(["COAP_ENABLED": "true"])
        let url = "coap://127.0.0.1:\(fixture.gateway.coapPort)"
        let (run, result) = try await runJSON(fixture, [
            "coap", "--url", url, "--devices", "4", "--provision", "--window", "8", "--count", "400", "--quiet",
            "--acknowledged", fixture.directory + "/coap-acked.txt",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(result["sent"] as? Int == 400 && result["acknowledged"] as? Int == 400 && result["unanswered"] as? Int == 0, "\(run.stdout)")
        // Retransmissions are reported (a slow machine may cause some; the gateway answers them from its duplicate cache).
        #expect(result["retransmitted"] is Int && result["connected"] as? Int == 4, "\(run.stdout)")
        let verified = try await verifyAll(fixture, "tb.telemetry", count: 400)
        #expect(verified["passed"] as? Bool == true && verified["devices"] as? Int == 4, "\(verified)")
        let (exact, exactJSON) = try await verify(fixture.kafka, "tb.telemetry", ["--acknowledged", fixture.directory + "/coap-acked.txt"])
        #expect(exact.status == 0 && exactJSON["devices"] as? Int == 4 && exactJSON["missing"] as? Int == 0, "\(exact.stdout)")
        let (_, refused) = try await runJSON(fixture, ["coap", "--url", url, "--tokens-pattern", "nobody-{n}", "--devices", "1", "--count", "3", "--quiet"])
        #expect(refused["refused"] as? [String: Int] == ["4.01": 3] && refused["acknowledged"] as? Int == 0, "\(refused)")
        try await fixture.stop()
    }
}
