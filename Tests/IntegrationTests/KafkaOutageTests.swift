import Foundation
import KafkaSink
import TestSupport
import Testing

/// A Kafka outage: no 200 for a record Kafka never got, recovery after it,
/// and every answered record in Kafka exactly once.
@Suite("Kafka outage", .timeLimit(.minutes(3)))
struct KafkaOutageTests {
    @Test("broker down: 503s; back up: 200s; every 200 is in Kafka exactly once")
    func brokerDown() async throws {
        let fixture = try await GatewayFixture.start(["HTTP_ACK_TIMEOUT": "1", "KAFKA_DELIVERY_TIMEOUT": "60"])
        let device = try await fixture.addDevice("outage-1")
        let path = "/api/v1/\(device.token)/telemetry"
        var sequence = 0
        var answered: [Int: Int] = [:]
        func send() async throws -> Int {
            sequence += 1
            let status = try await fixture.post(path, #"{"seq":\#(sequence)}"#).status
            answered[sequence] = status
            return status
        }
        for _ in 0..<5 { #expect(try await send() == 200) }

        fixture.kafka.setBrokerDown()
        var downStatuses: [Int] = []
        for _ in 0..<4 { downStatuses.append(try await send()) }
        #expect(downStatuses == [503, 503, 503, 503], "no 200 while the broker is down")

        fixture.kafka.setBrokerUp()
        // Recovery: librdkafka reconnects within about a second.
        #expect(try await eventually(timeout: .seconds(30)) { try await send() == 200 })
        for _ in 0..<5 { #expect(try await send() == 200) }

        // Records sent before the broker came back may still arrive late;
        // wait until the producer has nothing left before reading.
        try await Task.sleep(for: .seconds(2))
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        var counts: [Int: Int] = [:]
        for record in records {
            let values = record.json["values"] as? [String: Any]
            if let seq = (values?["seq"] as? NSNumber)?.intValue { counts[seq, default: 0] += 1 }
        }
        for (seq, status) in answered where status == 200 {
            #expect(counts[seq] == 1, "seq \(seq) answered 200 appears \(counts[seq] ?? 0) times")
        }
        // A 503 is at least once: the record may arrive, but never twice.
        #expect(counts.values.allSatisfy { $0 == 1 })
        try await fixture.stop()
    }

    @Test("on a keep-alive connection, a request sent right after an answered one still gets its 503 when Kafka is down")
    func timeoutAfterAnsweredRequest() async throws {
        // The connection's answer timer was armed for the first request; it
        // must wait on for the second one's deadline rather than lapse.
        let fixture = try await GatewayFixture.start(["HTTP_ACK_TIMEOUT": "2", "KAFKA_DELIVERY_TIMEOUT": "60"])
        let device = try await fixture.addDevice("outage-2")
        let client = PeerProcess(
            try which("python3"),
            [packageRoot() + "/Tests/IntegrationTests/Scripts/http_raw.py", String(fixture.gateway.httpPort), device.token, "--stepwise"])
        try client.start()
        client.send("first")
        try await client.waitForLine("the first answer") { $0.contains(#""seq": 1"#) }
        fixture.kafka.setBrokerDown()
        client.send("second")
        let second = try await client.waitForLine(timeout: .seconds(20), "the second answer") { $0.contains(#""seq": 2"#) }
        #expect(client.lines.first?.contains(#""status": 200"#) == true)
        #expect(second.contains(#""status": 503"#), "\(second)")
        fixture.kafka.setBrokerUp()
        await client.stop()
        try await fixture.stop()
    }
}
