import Foundation
import KafkaSink
import NIOCore
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

    @Test("with the embedded cluster's producer properties (one request in flight per connection): every record once, in order per device, over four partitions")
    func embeddedProducerProperties() async throws {
        #expect(EmbeddedKafkaCluster.producerProperties["max.in.flight.requests.per.connection"] == "1")
        let cluster = try EmbeddedKafkaCluster(topics: ["tb.telemetry"], partitions: 4)
        let sink = try KafkaSink(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, extraProperties: EmbeddedKafkaCluster.producerProperties),
            enqueueTimeout: .seconds(1), metrics: GatewayMetrics(), logger: testLogger)
        defer { sink.close() }
        let devices = (0..<20).map { DeviceIdentity(id: "device-\($0)", name: "d\($0)", type: "test") }
        let perDevice = 50
        var completions: [RecordingCompletion] = []
        // Ten sends of 100 messages, each device's sequence interleaved with the others'.
        for round in 0..<(perDevice / 5) {
            var batch: [GatewayMessage] = []
            for step in 0..<5 {
                for device in devices {
                    let completion = RecordingCompletion()
                    completions.append(completion)
                    let seq = round * 5 + step
                    batch.append(GatewayMessage(
                        device: device, kind: .telemetry, transport: .mqtt, receivedAt: 1_700_000_000_999,
                        entries: [TelemetryEntry(ts: 1_700_000_000_000 + Int64(seq), values: ByteBuffer(string: #"{"seq":\#(seq)}"#))],
                        completion: completion))
                }
            }
            await sink.send(batch)
        }
        #expect(await waitUntil { completions.allSatisfy { $0.outcome != nil } })
        #expect(completions.allSatisfy { $0.all == [.delivered] })
        let records = try await readTopic("tb.telemetry", bootstrap: cluster.bootstrapServers)
        #expect(records.count == devices.count * perDevice)
        #expect(Set(records.map(\.partition)).count > 1, "the devices spread over the partitions")
        for device in devices {
            let own = records.filter { $0.key == device.id }.sorted { $0.offset < $1.offset }
            #expect(Set(own.map(\.partition)).count == 1, "one device, one partition")
            #expect(own.map { $0.json["ts"] as? Int } == (0..<perDevice).map { 1_700_000_000_000 + $0 }, "device \(device.id) in order, once each")
        }
    }
}
