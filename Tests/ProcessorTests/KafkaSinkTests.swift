import Foundation
import KafkaSink
import ProcessorAPI
import TestSupport
import Testing

@Suite("Kafka sink against librdkafka's mock cluster", .timeLimit(.minutes(2)))
struct KafkaSinkTests {
    @Test("records per entry, keyed by device, topic per kind; acks from delivery reports")
    func produce() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: ["t.tel", "t.attr", "t.ev", "t.rpc"], partitions: 3)
        let topics = KafkaConfiguration.Topics(telemetry: "t.tel", attributes: "t.attr", events: "t.ev", rpc: "t.rpc")
        let sink = try KafkaSink(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, topics: topics),
            enqueueTimeout: .seconds(1), metrics: GatewayMetrics(), logger: testLogger)
        defer { sink.close() }
        let telemetry = RecordingCompletion()
        let attributes = RecordingCompletion()
        await sink.send([
            message(#"{"a":1}"#, entries: 3, completion: telemetry),
            message(#"{"fw":"2"}"#, kind: .attributes, completion: attributes),
        ])
        #expect(await waitUntil { telemetry.outcome != nil && attributes.outcome != nil })
        #expect(telemetry.all == [.delivered])
        #expect(attributes.all == [.delivered])

        let records = try await readTopic("t.tel", bootstrap: cluster.bootstrapServers)
        #expect(records.count == 3)
        #expect(Set(records.map(\.partition)).count == 1, "one key, one partition, in order")
        #expect(records.sorted { $0.offset < $1.offset }.map(\.payload) == (0..<3).map {
            #"{"deviceId":"00000000-0000-4000-8000-0000000000aa","deviceName":"unit","deviceType":"test","ts":\#(1_700_000_000_000 + $0),"values":{"a":1},"transport":"http","receivedAt":1700000000999}"#
        })
        let attributeRecords = try await readTopic("t.attr", bootstrap: cluster.bootstrapServers)
        #expect(attributeRecords.map(\.key) == [testDevice.id])
        #expect(attributeRecords.first?.headers == ["device-id": testDevice.id, "transport": "http", "content-type": "application/json"])
        #expect(await sink.isReachable())
        #expect(await sink.drain(timeout: .seconds(1)) == 0)
    }

    @Test("with the broker down nothing is acknowledged; past the delivery timeout the message fails")
    func brokerDown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: ["tb.telemetry"], partitions: 1)
        let sink = try KafkaSink(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, deliveryTimeout: .seconds(2)),
            enqueueTimeout: .seconds(1), metrics: GatewayMetrics(), logger: testLogger)
        defer { sink.close() }
        let first = RecordingCompletion()
        await sink.send([message(completion: first)])
        #expect(await waitUntil { first.outcome == .delivered })

        cluster.setBrokerDown()
        let lost = RecordingCompletion()
        await sink.send([message(completion: lost)])
        try await Task.sleep(for: .milliseconds(500))
        #expect(lost.outcome == nil, "no verdict while the broker is down")
        #expect(await waitUntil(timeout: .seconds(10)) { lost.outcome != nil })
        #expect(lost.all == [.failed(.sinkTimeout)])
        cluster.setBrokerUp()
    }

    @Test("drain fails what is left after its timeout")
    func drainTimeout() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: ["tb.telemetry"], partitions: 1)
        let sink = try KafkaSink(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers),
            enqueueTimeout: .seconds(1), metrics: GatewayMetrics(), logger: testLogger)
        let warm = RecordingCompletion()
        await sink.send([message(completion: warm)])
        #expect(await waitUntil { warm.outcome == .delivered })
        cluster.setBrokerDown()
        let stuck = RecordingCompletion()
        await sink.send([message(entries: 2, completion: stuck)])
        #expect(await sink.drain(timeout: .milliseconds(300)) == 2)
        sink.close()
        #expect(stuck.all == [.failed(.sinkTimeout)])
    }
}
