import Foundation
import KafkaSink
import TestSupport
import Testing

/// Per-device quotas and the per-address caps on the UDP transports
/// (docs/security.md), driven by raw peers from Scripts/hostile_limits.py.
@Suite("Hardening: client-attribute quota, LwM2M Register and Block1 caps per address", .timeLimit(.minutes(4)))
struct HardeningQuotaTests {
    static let script = packageRoot() + "/Tests/IntegrationTests/Scripts/hostile_limits.py"
    let peers = HardeningTests()

    func peer(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await runCommand("python3", [Self.script] + arguments)
        try #require(result.status == 0, "hostile_limits.py \(arguments.first ?? ""): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    func refused(_ metrics: [String: Double], _ transport: String, _ reason: String) -> Double {
        metrics[#"tb_gateway_connections_refused_total{transport="\#(transport)",reason="\#(reason)"}"#] ?? 0
    }

    func publishAnswer(_ fixture: GatewayFixture, _ token: String, level: Int, _ payload: String) async throws -> String? {
        try await peer([
            "publish-answer", "127.0.0.1", "\(fixture.gateway.mqttPort)", token, "\(level)", "v1/devices/me/attributes", payload,
        ])["answer"] as? String
    }

    /// Before, a device could store any number of client attributes of any
    /// size: the registry's disk was its to fill.
    @Test("CLIENT_ATTRIBUTES_MAX_KEYS and _MAX_BYTES: an upload past the quota is refused whole (HTTP 413, MQTT 5 PUBACK 0x97, 3.1.1 closed, CoAP 4.13), counted and not forwarded; updates within it go on")
    func clientAttributeQuota() async throws {
        let fixture = try await GatewayFixture.start([
            "MQTT_ENABLED": "true", "COAP_ENABLED": "true",
            "CLIENT_ATTRIBUTES_MAX_KEYS": "3", "CLIENT_ATTRIBUTES_MAX_BYTES": "200",
        ])
        let device = try await fixture.addDevice("quota")
        let path = "/api/v1/\(device.token)/attributes"
        #expect(try await fixture.post(path, #"{"a":1,"b":2}"#).status == 200)
        let overKeys = try await fixture.post(path, #"{"c":3,"d":4}"#)
        #expect(overKeys.status == 413 && overKeys.body.contains("CLIENT_ATTRIBUTES_MAX_KEYS"), "\(overKeys)")
        #expect(try await fixture.post(path, #"{"a":5}"#).status == 200, "an update of a stored key stays within the quota")
        let overBytes = try await fixture.post(path, #"{"big":"\#(String(repeating: "x", count: 300))"}"#)
        #expect(overBytes.status == 413 && overBytes.body.contains("CLIENT_ATTRIBUTES_MAX_BYTES"), "\(overBytes)")
        #expect(try await publishAnswer(fixture, device.token, level: 5, #"{"e":1,"f":2}"#) == "puback:0x97")
        #expect(try await publishAnswer(fixture, device.token, level: 4, #"{"e":1,"f":2}"#) == "closed")
        #expect(try await publishAnswer(fixture, device.token, level: 5, #"{"c":1}"#) == "puback:0x00")
        let python = packageRoot() + "/.venv/bin/python"
        let coap = try await runCommand(python, [
            packageRoot() + "/Tests/IntegrationTests/Scripts/coap_client.py", "request", "--port", "\(fixture.gateway.coapPort)",
            "--method", "POST", "--path", path, "--payload", #"{"z":1}"#, "--timeout", "15",
        ])
        #expect(coap.stdout.hasPrefix("4.13"), "\(coap.stdout) \(coap.stderr)")

        let stored = try await curl("GET", fixture.gateway.baseURL + path + "?clientKeys=a,b,c,d,e,f,z,big")
        let client = try #require(
            (try JSONSerialization.jsonObject(with: Data(stored.body.utf8)) as? [String: Any])?["client"] as? [String: Any], "\(stored.body)")
        #expect(Set(client.keys) == ["a", "b", "c"], "\(client)")
        #expect((client["a"] as? NSNumber)?.intValue == 5)
        let metrics = try await peers.metrics(fixture)
        #expect(metrics[#"tb_gateway_messages_dropped_total{reason="quota_exceeded"}"#] == 5)
        var forwarded: Set<String> = []
        #expect(try await eventually(timeout: .seconds(10)) {
            forwarded = Set(try await readTopic("tb.attributes", bootstrap: fixture.kafka.bootstrapServers)
                .flatMap { (($0.json["values"] as? [String: Any]) ?? [:]).keys })
            return forwarded.contains("c")
        })
        #expect(forwarded == ["a", "b", "c"], "refused uploads are not forwarded: \(forwarded)")
        try await fixture.stop()
    }

    /// Before, every Register was a registry task and a warning line, and a
    /// flood of unknown endpoint names was answered 4.03 without end.
    @Test("LwM2M Register from one address: wrong endpoint names throttled (4.29), one warning, look-ups per address capped (5.03); a device at another address registers")
    func registerFlood() async throws {
        let fixture = try await GatewayFixture.start(["LWM2M_ENABLED": "true"])
        let port = "\(fixture.gateway.lwm2mPort)"
        _ = try await fixture.gateway.cli(["device", "add", "real-lwm2m", "--type", "sensor", "--lwm2m-endpoint", "real-ep", "--json"])
        let flood = try await peer(["register-flood", "127.0.0.1", port, "127.0.0.2", "0", "25"])
        // AUTH_FAILURES_PER_ADDRESS is 20 a minute: then no more look-ups.
        #expect(flood["sequential"] as? [String: Int] == ["4.03": 20, "4.29": 5], "\(flood)")
        let blocked = try await peer(["register-flood", "127.0.0.1", port, "127.0.0.2", "40", "0"])
        #expect(blocked["burst"] as? [String: Int] == ["4.29": 40], "\(blocked)")
        #expect(try await peer(["register", "127.0.0.1", port, "127.0.0.3", "real-ep"])["code"] as? String == "2.01")

        let warnings = fixture.gateway.logs.filter {
            $0["message"] as? String == "LwM2M registration refused" && ($0["remote_address"] as? String) == "127.0.0.2"
        }
        #expect(warnings.count == 1, "one warning per address a minute, not one per Register: \(warnings.count)")
        var metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "lwm2m", "throttled") == 45)

        // With the throttle out of the way, a burst of look-ups from one
        // address: at most eight run at once, the rest are told to wait.
        let burst = try await peer(["register-flood", "127.0.0.1", port, "127.0.0.4", "300", "0"])
        let codes = try #require(burst["burst"] as? [String: Int])
        #expect(codes.values.reduce(0, +) == 300 && codes["none"] == nil, "\(codes)")
        #expect(Set(codes.keys).isSubset(of: ["4.03", "5.03", "4.29"]), "\(codes)")
        metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "lwm2m", "per_address") == Double(codes["5.03", default: 0]))
        #expect(codes["5.03", default: 0] > 0, "300 Registers at once from one address, eight look-ups at a time: \(codes)")
        try await fixture.stop()
    }

    /// Before, one address could open every Block1 slot of the endpoint
    /// (1,024) and keep them for their 60 s lifetime.
    @Test("CoAP Block1: one address holds at most 16 unfinished uploads (then 5.03, counted); another address uploads")
    func blockSlotsPerAddress() async throws {
        let fixture = try await GatewayFixture.start(["COAP_ENABLED": "true"])
        let device = try await fixture.addDevice("blocky")
        let port = "\(fixture.gateway.coapPort)"
        let slots = try await peer(["block-slots", "127.0.0.1", port, "127.0.0.2", device.token, "20"])
        #expect(slots as? [String: Int] == ["2.31": 16, "5.03": 4], "\(slots)")
        let upload = try await peer(["block-upload", "127.0.0.1", port, "127.0.0.3", device.token])
        #expect(upload["codes"] as? [String] == ["2.31", "2.04"], "\(upload)")
        let metrics = try await peers.metrics(fixture)
        #expect(refused(metrics, "coap", "per_address") == 4)
        #expect(try await eventually(timeout: .seconds(10)) {
            try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers).contains {
                ($0.json["values"] as? [String: Any])?["blocked"] != nil
            }
        })
        try await fixture.stop()
    }
}
