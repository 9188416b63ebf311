import Foundation
import KafkaSink
import TestSupport
import Testing

/// The real gateway, provisioned through its CLI, driven by curl, read back
/// from a mock Kafka cluster with kcat.
@Suite("HTTP telemetry to Kafka", .timeLimit(.minutes(3)))
struct HTTPTelemetryTests {
    @Test("all three ThingsBoard telemetry formats arrive as exact records")
    func threeFormats() async throws {
        let fixture = try await GatewayFixture.start()
        let device = try await fixture.addDevice("thermo-1", type: "thermometer")

        let before = nowMilliseconds()
        let plain = try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"temperature":21.5,"label":"a \"b\""}"#)
        let after = nowMilliseconds()
        #expect(plain.status == 200)
        let stamped = try await fixture.post("/api/v1/\(device.token)/telemetry", #"{"ts":1700000000000,"values":{"humidity":40}}"#)
        #expect(stamped.status == 200)
        let array = try await fixture.post(
            "/api/v1/\(device.token)/telemetry",
            #"[{"ts":1700000000001,"values":{"n":1}}, {"ts":1700000000002,"values":{"n":{"nested":[1,2]}}}]"#)
        #expect(array.status == 200)

        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
            .sorted { ($0.json["ts"] as? Int64 ?? 0) < ($1.json["ts"] as? Int64 ?? 0) }
        try #require(records.count == 4)
        for record in records {
            #expect(record.topic == "tb.telemetry")
            #expect(record.key == device.id)
            #expect(record.headers == ["device-id": device.id, "transport": "http", "content-type": "application/json"])
        }
        // Timestamped records, byte for byte (docs/kafka-records.md).
        func expected(ts: Int64, values: String, receivedAt: Int64) -> String {
            #"{"deviceId":"\#(device.id)","deviceName":"thermo-1","deviceType":"thermometer","ts":\#(ts),"values":\#(values),"transport":"http","receivedAt":\#(receivedAt)}"#
        }
        let receivedAt = { (record: KafkaRecord) in (record.json["receivedAt"] as? NSNumber)?.int64Value ?? 0 }
        #expect(records[0].payload == expected(ts: 1_700_000_000_000, values: #"{"humidity":40}"#, receivedAt: receivedAt(records[0])))
        #expect(records[1].payload == expected(ts: 1_700_000_000_001, values: #"{"n":1}"#, receivedAt: receivedAt(records[1])))
        #expect(records[2].payload == expected(ts: 1_700_000_000_002, values: #"{"n":{"nested":[1,2]}}"#, receivedAt: receivedAt(records[2])))
        // The plain object takes the receive time as its ts.
        let plainRecord = records[3]
        let plainTs = (plainRecord.json["ts"] as? NSNumber)?.int64Value ?? 0
        #expect(plainTs >= before && plainTs <= after)
        #expect(receivedAt(plainRecord) == plainTs)
        #expect(plainRecord.payload == expected(ts: plainTs, values: #"{"temperature":21.5,"label":"a \"b\""}"#, receivedAt: plainTs))
        try await fixture.stop()
    }

    @Test("client attributes are stored, forwarded and read back")
    func attributes() async throws {
        let fixture = try await GatewayFixture.start()
        let device = try await fixture.addDevice("meter-1")
        let upload = try await fixture.post("/api/v1/\(device.token)/attributes", #"{"firmware":"1.2.0","relay":true}"#)
        #expect(upload.status == 200)

        let both = try await curl("GET", fixture.gateway.baseURL + "/api/v1/\(device.token)/attributes")
        #expect(both.status == 200)
        #expect(both.body == #"{"client":{"firmware":"1.2.0","relay":true},"shared":{}}"#)
        let some = try await curl("GET", fixture.gateway.baseURL + "/api/v1/\(device.token)/attributes?clientKeys=relay,missing")
        #expect(some.body == #"{"client":{"relay":true}}"#)

        let records = try await readTopic("tb.attributes", bootstrap: fixture.kafka.bootstrapServers)
        try #require(records.count == 1)
        #expect(records[0].key == device.id)
        #expect(records[0].payload.contains(#","values":{"firmware":"1.2.0","relay":true},"transport":"http","#))
        try await fixture.stop()
    }

    @Test("refusals: 400, 401, 413, 429, each with a reason, and nothing reaches Kafka")
    func refusals() async throws {
        let fixture = try await GatewayFixture.start([
            "MAX_PAYLOAD_SIZE": "200",
            "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_REQUESTS_PER_SECOND": "1",
            "RATE_LIMIT_BURST": "12",
        ])
        let device = try await fixture.addDevice("bad-1")
        let path = "/api/v1/\(device.token)/telemetry"
        let cases: [(String, String)] = [
            ("{\"a\":", "invalid JSON"),
            ("42", "must be a JSON object"),
            (#"{"ts":"yesterday","values":{"a":1}}"#, "ts must be an integer"),
            (#"{"ts":1.5,"values":{"a":1}}"#, "ts must be an integer"),
            (#"{"":1}"#, "keys must not be empty"),
            (#"[1,2]"#, "must be a JSON object"),
            ("", "empty"),
        ]
        for (body, reason) in cases {
            let answer = try await fixture.post(path, body)
            #expect(answer.status == 400, "\(body)")
            #expect(answer.body.contains(reason), "\(body) -> \(answer.body)")
        }
        let large = try await fixture.post(path, #"{"blob":""# + String(repeating: "x", count: 300) + #""}"#)
        #expect(large.status == 413)

        #expect(try await fixture.post("/api/v1/unknown-token/telemetry", #"{"a":1}"#).status == 401)
        #expect(try await fixture.post("/api/v1/bad%20token/telemetry", #"{"a":1}"#).status == 401)

        // The burst is 12 and 9 requests were used: the rest of the bucket,
        // then 429 with Retry-After.
        var statuses: [Int] = []
        for _ in 0..<6 { statuses.append(try await fixture.post(path, #"{"a":1}"#).status) }
        #expect(statuses.contains(429))
        #expect(statuses.filter { $0 == 200 }.count >= 2)
        let limited = try await fixture.post(path, #"{"a":1}"#)
        #expect(limited.status == 429)
        #expect(limited.headers["retry-after"] == "1")

        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        #expect(records.count == statuses.filter { $0 == 200 }.count)
        try await fixture.stop()
    }

    @Test("disable, rotate and remove through the CLI take effect in the running gateway")
    func provisioningChanges() async throws {
        let fixture = try await GatewayFixture.start()
        let device = try await fixture.addDevice("cli-1")
        let path = "/api/v1/\(device.token)/telemetry"
        #expect(try await fixture.post(path, #"{"a":1}"#).status == 200)

        #expect(try await fixture.gateway.cli(["device", "disable", "cli-1"]).status == 0)
        #expect(try await eventually { try await fixture.post(path, #"{"a":1}"#).status == 401 })
        #expect(try await fixture.gateway.cli(["device", "enable", "cli-1"]).status == 0)
        #expect(try await eventually { try await fixture.post(path, #"{"a":1}"#).status == 200 })

        let rotated = try await fixture.gateway.cli(["device", "rotate-token", "cli-1", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: Any])
        let newToken = try #require(object["token"] as? String)
        #expect(newToken.count >= 20)
        #expect(try await eventually { try await fixture.post(path, #"{"a":1}"#).status == 401 })
        #expect(try await fixture.post("/api/v1/\(newToken)/telemetry", #"{"a":1}"#).status == 200)

        #expect(try await fixture.gateway.cli(["device", "remove", "cli-1"]).status == 0)
        #expect(try await eventually { try await fixture.post("/api/v1/\(newToken)/telemetry", #"{"a":1}"#).status == 401 })
        let show = try await fixture.gateway.cli(["device", "show", "cli-1"])
        #expect(show.status == 1)
        try await fixture.stop()
    }
}

/// Polls `condition` every 100 ms for up to `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

/// The HTTP/1.1 framing a curl request does not exercise, with a raw socket
/// client (Scripts/http_raw.py).
@Suite("HTTP device API: pipelining, 100 Continue, chunked bodies, garbage", .timeLimit(.minutes(3)))
struct HTTPFramingTests {
    @Test("pipelined requests are answered in order, 100 Continue precedes the body, chunked bodies arrive whole, garbage is refused 400")
    func framing() async throws {
        let fixture = try await GatewayFixture.start()
        let device = try await fixture.addDevice("framing-1")
        let script = packageRoot() + "/Tests/IntegrationTests/Scripts/http_raw.py"
        let run = try await runCommand("python3", [script, String(fixture.gateway.httpPort), device.token], timeout: .seconds(60))
        try #require(run.status == 0, "\(run.stderr)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [[String: Any]]])
        let statuses = { (key: String) in (seen[key] ?? []).map { $0["status"] as? Int ?? 0 } }
        #expect(statuses("pipelined") == [200, 200, 200])
        #expect(statuses("continue") == [100])
        #expect(statuses("continued") == [200])
        #expect(statuses("chunked") == [200])
        // One answer, 400 with a reason, and the connection closed: the request behind it is not read.
        #expect(statuses("garbage") == [400])
        let garbageBody = seen["garbage"]?.first?["body"] as? String
        #expect(garbageBody?.contains("malformed request line") == true)
        #expect(seen["garbage"]?.first?["connection"] as? String == "close")

        // Kafka has n = 1…5 in the order they were sent; n = 6 never got in.
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        let numbers = records.compactMap { (($0.json["values"] as? [String: Any])?["n"] as? NSNumber)?.intValue }
        #expect(numbers == [1, 2, 3, 4, 5])
        let metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
        #expect(metrics[#"tb_gateway_errors_total{kind="transport"}"#] == 1)
        try await fixture.stop()
    }
}
