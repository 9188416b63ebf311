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
}
