import Foundation
import KafkaSink
import Testing

import TestSupport

/// The MQTT bridge against a real Mosquitto broker started by the test,
/// with mosquitto_pub/mosquitto_sub as the fleet on the broker's side.
@Suite("MQTT bridge through libmosquitto", .serialized)
struct MQTTBridgeTests {
    static let key = "bridge-admin-key"
    /// The default layout, plus a topic no route takes, so the bridge sees it.
    static let routes = """
        {"uplink":[{"topic":"sensors/{device}/telemetry","kind":"telemetry"},
                   {"topic":"sensors/{device}/attributes","kind":"attributes"},
                   {"topic":"sensors/{device}/rpc/response/{id}","kind":"rpc_response"}],
         "downlink":{"attributes":"sensors/{device}/attributes/set","rpc":"sensors/{device}/rpc/request/{id}"},
         "subscriptions":["sensors/+/telemetry","sensors/+/attributes","sensors/+/rpc/response/+","sensors/+/status"]}
        """

    func start(_ broker: MosquittoBroker, _ extra: [String: String] = [:]) async throws -> GatewayFixture {
        var environment = [
            "ADMIN_API_KEY": Self.key, "MQTT_BRIDGE_ENABLED": "true", "MQTT_BRIDGE_URL": "mqtt://127.0.0.1:\(broker.port)",
            "MQTT_BRIDGE_CLIENT_ID": "bridge-\(UUID().uuidString.prefix(8))",
        ]
        environment.merge(extra) { $1 }
        let fixture = try await GatewayFixture.start(environment, files: ["mqtt-bridge-routes.json": Self.routes])
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge connected", timeout: .seconds(20))
        return fixture
    }

    func publish(_ broker: MosquittoBroker, _ topic: String, _ message: String) async throws {
        let result = try await runCommand("mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", topic, "-m", message])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// `{"seq":N}` lines published at QoS 1 by one mosquitto_pub.
    func publishSequence(_ broker: MosquittoBroker, device: String, _ numbers: ClosedRange<Int>) async throws {
        let lines = numbers.map { #"{"seq":\#($0)}"# }.joined(separator: "\n") + "\n"
        let result = try await runCommand(
            "mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "sensors/\(device)/telemetry", "-l"],
            input: Data(lines.utf8))
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// How often each `seq` is in the telemetry topic.
    func sequenceCounts(_ fixture: GatewayFixture) async throws -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for record in try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers) {
            if let seq = ((record.json["values"] as? [String: Any])?["seq"] as? NSNumber)?.intValue { counts[seq, default: 0] += 1 }
        }
        return counts
    }

    func metric(_ fixture: GatewayFixture, _ series: String) async throws -> Double? {
        parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)[series]
    }

    @Test("routed telemetry is in Kafka once with the device resolved; an unrouted topic and an unknown device are counted, not forwarded; shared attributes and an RPC go back to the broker and the reply completes the admin call")
    func routesAndDownlink() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let fixture = try await start(broker)
        let device = try await fixture.addDevice("s-1", type: "boiler")
        try await publish(broker, "sensors/s-1/telemetry", #"{"temp":20.5}"#)
        try await publish(broker, "sensors/s-1/status", #"{"up":true}"#)
        try await publish(broker, "sensors/ghost/telemetry", #"{"temp":1}"#)
        try await publish(broker, "sensors/s-1/attributes", #"{"firmware":"1.2"}"#)
        #expect(try await eventually(timeout: .seconds(10)) {
            let metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
            return metrics[#"tb_gateway_messages_dropped_total{reason="unrouted"}"#] == 1
                && metrics[#"tb_gateway_auth_failures_total{transport="mqtt_bridge"}"#] == 1
                && metrics[#"tb_gateway_messages_received_total{transport="mqtt_bridge"}"#] == 2
        })
        var records: [KafkaRecord] = []
        #expect(try await eventually(timeout: .seconds(10)) {
            records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
            return !records.isEmpty
        })
        #expect(records.count == 1, "\(records.map(\.payload))")
        let record = try #require(records.first)
        #expect(record.key == device.id && record.headers["transport"] == "mqtt_bridge")
        #expect(record.json["deviceName"] as? String == "s-1" && record.json["deviceType"] as? String == "boiler")
        #expect(record.payload.contains(#""values":{"temp":20.5},"transport":"mqtt_bridge""#), "\(record.payload)")
        let stored = try await curl("GET", fixture.gateway.adminURL + "/api/devices/\(device.id)/attributes/client", headers: ["Authorization": "Bearer \(Self.key)"])
        #expect(stored.body == #"{"firmware":"1.2"}"#)

        // Downlink: a subscriber on the broker's downlink topics.
        let subscriber = PeerProcess(try which("mosquitto_sub"), [
            "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-v", "-t", "sensors/s-1/attributes/set", "-t", "sensors/s-1/rpc/request/+",
        ])
        try subscriber.start()
        defer { Task { await subscriber.stop() } }
        // It is subscribed once a probe comes through.
        #expect(try await eventually(timeout: .seconds(10)) {
            try await publish(broker, "sensors/s-1/attributes/set", "probe")
            return subscriber.lines.contains("sensors/s-1/attributes/set probe")
        })
        let shared = try await curl(
            "POST", fixture.gateway.adminURL + "/api/devices/\(device.id)/attributes/shared", body: #"{"mode":"eco"}"#,
            headers: ["Authorization": "Bearer \(Self.key)"])
        #expect(shared.status == 200)
        try await subscriber.waitForLine("the shared attributes") { $0 == #"sensors/s-1/attributes/set {"mode":"eco"}"# }
        async let call = curl(
            "POST", fixture.gateway.adminURL + "/api/devices/\(device.id)/rpc", body: #"{"method":"reboot","params":{"delay":1},"timeout":10000}"#,
            headers: ["Authorization": "Bearer \(Self.key)"])
        let request = try await subscriber.waitForLine("the RPC request") { $0.hasPrefix("sensors/s-1/rpc/request/") }
        let id = String(request.dropFirst("sensors/s-1/rpc/request/".count).prefix { $0 != " " })
        #expect(request.hasSuffix(#" {"method":"reboot","params":{"delay":1}}"#), "\(request)")
        try await publish(broker, "sensors/s-1/rpc/response/\(id)", #"{"rebooting":true}"#)
        let answered = try await call
        #expect(answered.status == 200 && answered.body == #"{"id":\#(id),"response":{"rebooting":true}}"#, "\(answered.body)")
        #expect(try await eventually(timeout: .seconds(10)) {
            try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers)
                .contains { $0.payload.contains(#""values":{"requestId":"\#(id)","payload":{"rebooting":true}}"#) }
        })
        await subscriber.stop()
        try await fixture.stop()
        await broker.stop()
    }

    /// Anyone who can publish to the broker picks the device name in the
    /// topic. Before, every routed name was taken, and with
    /// MQTT_BRIDGE_CREATE_DEVICES every new name became a device.
    @Test("per-route allow-lists: a name or a device type the route does not take is counted not_allowed, never looked up or created; MQTT_BRIDGE_MAX_CREATED_DEVICES stops provisioning")
    func allowListsAndCreationCap() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let routes = """
            {"uplink":[{"topic":"sensors/{device}/telemetry","kind":"telemetry","devices":["pump-*","meter-7"]},
                       {"topic":"sensors/{device}/attributes","kind":"attributes","deviceTypes":["boiler"]}]}
            """
        let fixture = try await GatewayFixture.start([
            "ADMIN_API_KEY": Self.key, "MQTT_BRIDGE_ENABLED": "true", "MQTT_BRIDGE_URL": "mqtt://127.0.0.1:\(broker.port)",
            "MQTT_BRIDGE_CLIENT_ID": "bridge-\(UUID().uuidString.prefix(8))", "MQTT_BRIDGE_CREATE_DEVICES": "true",
            "MQTT_BRIDGE_MAX_CREATED_DEVICES": "2", "MQTT_BRIDGE_DEVICE_TYPE": "bridged",
        ], files: ["mqtt-bridge-routes.json": routes])
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge connected", timeout: .seconds(20))
        _ = try await fixture.addDevice("pump-1", type: "sensor")
        _ = try await fixture.addDevice("valve-1", type: "boiler")
        for (topic, payload) in [
            ("sensors/pump-1/telemetry", #"{"n":1}"#), ("sensors/valve-1/telemetry", #"{"n":2}"#),
            ("sensors/valve-1/attributes", #"{"fw":"v"}"#), ("sensors/pump-1/attributes", #"{"fw":"p"}"#),
            ("sensors/pump-new1/telemetry", #"{"n":3}"#), ("sensors/pump-new2/telemetry", #"{"n":4}"#),
            ("sensors/pump-new3/telemetry", #"{"n":5}"#), ("sensors/intruder/telemetry", #"{"n":6}"#),
        ] {
            try await publish(broker, topic, payload)
        }
        #expect(try await eventually(timeout: .seconds(15)) {
            let metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
            return metrics[#"tb_gateway_messages_dropped_total{reason="not_allowed"}"#] == 3
                && metrics[#"tb_gateway_messages_dropped_total{reason="quota_exceeded"}"#] == 1
                && metrics[#"tb_gateway_messages_received_total{transport="mqtt_bridge"}"#] == 4
        })
        let listed = try await fixture.gateway.cli(["device", "list", "--json"])
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        let names = Set(devices.compactMap { $0["name"] as? String })
        #expect(names == ["pump-1", "valve-1", "pump-new1", "pump-new2"], "\(names)")
        #expect(devices.filter { $0["type"] as? String == "bridged" }.count == 2)
        var numbers: Set<Int> = []
        #expect(try await eventually(timeout: .seconds(10)) {
            numbers = Set(try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
                .compactMap { (($0.json["values"] as? [String: Any])?["n"] as? NSNumber)?.intValue })
            return numbers.count >= 3
        })
        #expect(numbers == [1, 3, 4], "\(numbers)")
        let attributes = try await readTopic("tb.attributes", bootstrap: fixture.kafka.bootstrapServers)
        #expect(attributes.map { $0.json["deviceName"] as? String } == ["valve-1"], "\(attributes.map(\.payload))")
        try await fixture.stop()
        await broker.stop()
    }

    @Test("with the Kafka broker down the bridge pauses, and every message published meanwhile arrives once after it is back")
    func kafkaOutage() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let fixture = try await start(broker, ["MQTT_BRIDGE_MAX_IN_HAND": "20", "KAFKA_DELIVERY_TIMEOUT": "120"])
        _ = try await fixture.addDevice("s-out")
        try await publishSequence(broker, device: "s-out", 1...5)
        #expect(try await eventually(timeout: .seconds(10)) { try await sequenceCounts(fixture).count == 5 })
        fixture.kafka.setBrokerDown()
        try await publishSequence(broker, device: "s-out", 6...205)
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge paused", timeout: .seconds(20))
        // Paused: the broker holds the rest for the persistent session.
        #expect(try await metric(fixture, "tb_gateway_bridge_connected") == 0)
        fixture.kafka.setBrokerUp()
        var counts: [Int: Int] = [:]
        #expect(try await eventually(timeout: .seconds(60)) {
            counts = try await sequenceCounts(fixture)
            return counts.count == 205
        }, "\(counts.count) of 205; \(fixture.gateway.logs.compactMap { $0["message"] as? String }.filter { $0.contains("bridge") || $0.contains("librdkafka") }.suffix(30))")
        #expect(counts.values.allSatisfy { $0 == 1 }, "duplicates: \(counts.filter { $0.value > 1 }.keys.sorted()) \(fixture.gateway.logs.filter { ($0["message"] as? String)?.contains("bridge") == true }.map { "\($0["message"] ?? "") \($0["reason"] ?? "")" }.suffix(30))")
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge resumed", timeout: .seconds(10))
        try await fixture.stop()
        await broker.stop()
    }

    @Test("messages published while the gateway is away (persistent session) arrive after it is back")
    func restart() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let fixture = try await start(broker)
        _ = try await fixture.addDevice("s-away")
        try await publishSequence(broker, device: "s-away", 1...10)
        #expect(try await eventually(timeout: .seconds(10)) { try await sequenceCounts(fixture).count == 10 })
        #expect(try await fixture.gateway.terminate() == 0)
        try await publishSequence(broker, device: "s-away", 11...60)
        let restarted = GatewayProcess(directory: fixture.directory, environment: fixture.gateway.environment)
        try await restarted.start()
        var counts: [Int: Int] = [:]
        #expect(try await eventually(timeout: .seconds(30)) {
            counts = try await sequenceCounts(fixture)
            return counts.count == 60
        }, "\(counts.count) of 60")
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(try await restarted.terminate() == 0)
        try? FileManager.default.removeItem(atPath: fixture.directory)
        await broker.stop()
    }

    @Test("the bridge reconnects after the broker restarts and takes messages again")
    func brokerRestart() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let fixture = try await start(broker)
        _ = try await fixture.addDevice("s-re")
        try await publishSequence(broker, device: "s-re", 1...1)
        #expect(try await eventually(timeout: .seconds(10)) { try await sequenceCounts(fixture).count == 1 })
        await broker.stop()
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge lost the broker", timeout: .seconds(20))
        #expect(try await eventually(timeout: .seconds(5)) { try await metric(fixture, "tb_gateway_bridge_connected") == 0 })
        try await broker.start()
        #expect(try await eventually(timeout: .seconds(40)) {
            fixture.gateway.logs.filter { $0["message"] as? String == "MQTT bridge connected" }.count >= 2
        })
        try await publishSequence(broker, device: "s-re", 2...3)
        #expect(try await eventually(timeout: .seconds(10)) { try await sequenceCounts(fixture) == [1: 1, 2: 1, 3: 1] })
        #expect(try await metric(fixture, "tb_gateway_bridge_connected") == 1)
        try await fixture.stop()
        await broker.stop()
    }

    @Test("a crash loses at most the in-hand window: SIGKILL with the Kafka broker down, then a restart")
    func crashWindow() async throws {
        let broker = try MosquittoBroker()
        try await broker.start()
        let window = 25
        let fixture = try await start(broker, ["MQTT_BRIDGE_MAX_IN_HAND": "\(window)", "KAFKA_DELIVERY_TIMEOUT": "120"])
        _ = try await fixture.addDevice("s-crash")
        fixture.kafka.setBrokerDown()
        try await publishSequence(broker, device: "s-crash", 1...200)
        _ = try await fixture.gateway.waitForLog(message: "MQTT bridge paused", timeout: .seconds(20))
        try await fixture.gateway.crash()
        fixture.kafka.setBrokerUp()
        let restarted = GatewayProcess(directory: fixture.directory, environment: fixture.gateway.environment)
        try await restarted.start()
        // Everything the broker still held arrives; what the killed gateway held in hand is gone.
        var counts: [Int: Int] = [:]
        #expect(try await eventually(timeout: .seconds(30)) {
            counts = try await sequenceCounts(fixture)
            return counts.count >= 200 - 2 * window && restarted.logs.contains { $0["message"] as? String == "MQTT bridge connected" }
        })
        // Settle: nothing more arrives once the broker's queue is drained.
        #expect(try await eventually(timeout: .seconds(10)) {
            let before = try await sequenceCounts(fixture).count
            try await Task.sleep(for: .milliseconds(500))
            return try await sequenceCounts(fixture).count == before
        })
        counts = try await sequenceCounts(fixture)
        let lost = 200 - counts.count
        print("MQTT bridge crash window: \(lost) of 200 lost with MQTT_BRIDGE_MAX_IN_HAND=\(window)")
        #expect(lost <= window + 2, "lost \(lost), window \(window)")
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(try await restarted.terminate() == 0)
        try? FileManager.default.removeItem(atPath: fixture.directory)
        await broker.stop()
    }
}
