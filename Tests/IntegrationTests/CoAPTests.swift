import Foundation
import KafkaSink
import TestSupport
import Testing

/// The ThingsBoard CoAP device API, driven by independent clients: libcoap's
/// coap-client-notls, aiocoap (Tests/IntegrationTests/Scripts/coap_client.py)
/// and a raw-socket script that builds its datagrams by hand (coap_raw.py).
@Suite("CoAP device API", .timeLimit(.minutes(3)))
struct CoAPTests {
    static let key = "coap-admin-key"

    func start(_ extra: [String: String] = [:]) async throws -> GatewayFixture {
        var environment = ["COAP_ENABLED": "true", "ADMIN_API_KEY": Self.key]
        environment.merge(extra) { $1 }
        return try await GatewayFixture.start(environment)
    }

    func uri(_ fixture: GatewayFixture, _ path: String) -> String {
        "coap://127.0.0.1:\(fixture.gateway.coapPort)\(path)"
    }

    /// coap-client-notls with a bound: it waits up to `-B` seconds for an answer.
    func coapClient(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> CommandResult {
        try await runCommand("coap-client-notls", ["-B", "10"] + arguments, timeout: timeout)
    }

    var python: String { packageRoot() + "/.venv/bin/python" }

    func script(_ name: String, _ arguments: [String], timeout: Duration = .seconds(60)) async throws -> CommandResult {
        try #require(FileManager.default.isExecutableFile(atPath: python), "make test creates .venv with aiocoap")
        return try await runCommand(python, [packageRoot() + "/Tests/IntegrationTests/Scripts/\(name)"] + arguments, timeout: timeout)
    }

    func admin(_ fixture: GatewayFixture, _ method: String, _ path: String, _ body: String? = nil) async throws -> HTTPAnswer {
        try await curl(method, fixture.gateway.adminURL + path, body: body, headers: ["Authorization": "Bearer \(Self.key)"])
    }

    /// Reads a topic until it holds `count` records (or 10 s pass): a
    /// consumer that starts right after the acknowledgement may see a
    /// partition before its last fetch.
    func readRecords(_ fixture: GatewayFixture, _ topic: String, count: Int) async throws -> [KafkaRecord] {
        var records: [KafkaRecord] = []
        _ = try await eventually(timeout: .seconds(10)) {
            records = try await readTopic(topic, bootstrap: fixture.kafka.bootstrapServers)
            return records.count >= count
        }
        return records
    }

    func values(_ records: [KafkaRecord]) -> [String] {
        records.map { record in
            // The device's own bytes, spliced in: cut them out of the record text.
            let text = record.payload
            guard let start = text.range(of: #""values":"#), let end = text.range(of: #","transport":"#) else { return text }
            return String(text[start.upperBound..<end.lowerBound])
        }
    }

    @Test("coap-client-notls: CON and NON telemetry, attributes upload and read; records exact in Kafka")
    func libcoapUploads() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("coap-1", type: "meter")
        let before = nowMilliseconds()
        let con = try await coapClient(["-m", "post", "-t", "50", "-e", #"{"temperature":21.5}"#, uri(fixture, "/api/v1/\(device.token)/telemetry")])
        #expect(con.status == 0 && con.stderr.isEmpty, "\(con.stderr)")
        let non = try await coapClient(["-N", "-m", "post", "-t", "50", "-e", #"{"ts":1700000000000,"values":{"n":2}}"#, uri(fixture, "/api/v1/\(device.token)/telemetry")])
        #expect(non.status == 0 && non.stderr.isEmpty, "\(non.stderr)")
        let attributes = try await coapClient(["-m", "post", "-t", "50", "-e", #"{"firmware":"1.0.3"}"#, uri(fixture, "/api/v1/\(device.token)/attributes")])
        #expect(attributes.status == 0 && attributes.stderr.isEmpty, "\(attributes.stderr)")
        let read = try await coapClient(["-m", "get", uri(fixture, "/api/v1/\(device.token)/attributes?clientKeys=firmware")])
        #expect(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"client":{"firmware":"1.0.3"}}"#)

        let telemetry = try await readRecords(fixture, "tb.telemetry", count: 2)
        #expect(values(telemetry).sorted() == [#"{"n":2}"#, #"{"temperature":21.5}"#])
        for record in telemetry {
            #expect(record.key == device.id)
            #expect(record.headers["transport"] == "coap")
            #expect(record.json["deviceName"] as? String == "coap-1" && record.json["deviceType"] as? String == "meter")
            #expect(record.json["transport"] as? String == "coap")
            let receivedAt = (record.json["receivedAt"] as? NSNumber)?.int64Value ?? 0
            #expect(receivedAt >= before && receivedAt <= nowMilliseconds())
        }
        #expect(telemetry.contains { ($0.json["ts"] as? NSNumber)?.int64Value == 1_700_000_000_000 })
        let attributeRecords = try await readRecords(fixture, "tb.attributes", count: 1)
        #expect(values(attributeRecords) == [#"{"firmware":"1.0.3"}"#])

        // Connected, counted, and one connected event.
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_devices_connected{transport="coap"} 1"#))
        #expect(metrics.contains(#"tb_gateway_messages_received_total{transport="coap"} 3"#))
        let events = try await readRecords(fixture, "tb.events", count: 1)
        #expect(events.filter { $0.payload.contains(#""event":"connected""#) && $0.headers["transport"] == "coap" }.count == 1)
        try await fixture.stop()
    }

    @Test("coap-client-notls: a block-wise upload (-b 1024) larger than 1024 bytes arrives whole; the idle device disconnects")
    func blockwise() async throws {
        let fixture = try await start(["COAP_SESSION_TIMEOUT": "1"])
        let device = try await fixture.addDevice("coap-block")
        let body = #"{"blob":""# + String(repeating: "0123456789abcdef", count: 200) + #"","n":7}"#
        let file = fixture.directory + "/body.json"
        try body.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await coapClient(["-m", "post", "-t", "50", "-b", "1024", "-f", file, uri(fixture, "/api/v1/\(device.token)/telemetry")])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        let records = try await readRecords(fixture, "tb.telemetry", count: 1)
        #expect(values(records) == [body])
        // No observation and nothing more within COAP_SESSION_TIMEOUT: disconnected.
        let events = try await readRecords(fixture, "tb.events", count: 2)
        #expect(events.map { values([$0])[0] } == [#"{"event":"connected"}"#, #"{"event":"disconnected","reason":"inactive"}"#])
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_devices_connected{transport="coap"} 0"#))
        try await fixture.stop()
    }

    @Test("coap-client-notls observes attributes (-s) and receives a shared-attribute update and a deletion")
    func libcoapObserve() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("coap-observer")
        #expect(try await admin(fixture, "POST", "/api/devices/\(device.id)/attributes/shared", #"{"mode":"eco"}"#).status == 200)
        async let observer = coapClient(["-s", "6", "-m", "get", uri(fixture, "/api/v1/\(device.token)/attributes")], timeout: .seconds(20))
        // The observation is a downlink session once it is registered.
        _ = try await fixture.gateway.waitForLog(message: "CoAP observation registered", timeout: .seconds(10))
        #expect(try await admin(fixture, "POST", "/api/devices/\(device.id)/attributes/shared", #"{"fw":"1.2"}"#).status == 200)
        #expect(try await admin(fixture, "DELETE", "/api/devices/\(device.id)/attributes/shared?keys=mode").status == 200)
        let output = try await observer
        // coap-client prints each payload without a separator: the first answer, then two notifications.
        #expect(output.stdout.trimmingCharacters(in: .newlines) == #"{"mode":"eco"}{"fw":"1.2"}{"deleted":["mode"]}"#, "\(output.stdout) \(output.stderr)")
        // coap-client deregisters when -s runs out (GET with Observe: 1).
        let ended = try await fixture.gateway.waitForLog(message: "CoAP observation ended", timeout: .seconds(5))
        #expect(ended["reason"] as? String == "deregistered")
        try await fixture.stop()
    }

    @Test("error answers: 4.01, 4.00 with a diagnostic, 4.04, 4.05, 4.15, 4.13; nothing forwarded")
    func errors() async throws {
        let fixture = try await start(["MAX_PAYLOAD_SIZE": "100"])
        let device = try await fixture.addDevice("coap-errors")
        let telemetry = "/api/v1/\(device.token)/telemetry"
        func request(_ method: String, _ path: String, _ payload: String? = nil, format: Int? = 50) async throws -> String {
            var arguments = ["request", "--port", "\(fixture.gateway.coapPort)", "--method", method, "--path", path]
            if let payload { arguments.append("--payload=\(payload)") }
            if let format { arguments += ["--content-format", "\(format)"] }
            let result = try await script("coap_client.py", arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.trimmingCharacters(in: .newlines)
        }
        #expect(try await request("POST", "/api/v1/unknown-token/telemetry", #"{"a":1}"#) == "4.01 ")
        #expect(try await request("POST", telemetry, #"{"a":"#) == "4.00 invalid JSON at byte 5: unexpected end of JSON")
        #expect(try await request("POST", "/api/v1/\(device.token)/nothing", #"{"a":1}"#) == "4.04 ")
        #expect(try await request("DELETE", telemetry, format: nil) == "4.05 ")
        #expect(try await request("POST", telemetry, #"{"a":1}"#, format: 60) == "4.15 payload must be JSON (Content-Format 50)")
        #expect(try await request("POST", telemetry, #"{"a":""# + String(repeating: "x", count: 200) + #""}"#) == "4.13 ")
        // Good requests still work.
        #expect(try await request("POST", telemetry, #"{"ok":true}"#) == "2.04 ")
        let records = try await readRecords(fixture, "tb.telemetry", count: 1)
        #expect(values(records) == [#"{"ok":true}"#])
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_auth_failures_total{transport="coap"} 1"#))
        try await fixture.stop()
    }

    @Test("aiocoap: observe attributes, server-side RPC notified to an observer of /rpc, RPC reply and client RPC to Kafka, answered from the command topic")
    func aiocoapObserveAndRPC() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("coap-rpc")
        let port = "\(fixture.gateway.coapPort)"

        async let observer = script("coap_client.py", [
            "observe", "--port", port, "--path", "/api/v1/\(device.token)/attributes", "--count", "1", "--deregister", "--timeout", "20",
        ])
        _ = try await fixture.gateway.waitForLog(message: "CoAP observation registered", timeout: .seconds(10))
        #expect(try await admin(fixture, "POST", "/api/devices/\(device.id)/attributes/shared", #"{"target":22}"#).status == 200)
        let observed = try await observer
        #expect(observed.status == 0, "\(observed.stderr)")
        let lines = observed.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("REGISTERED 2.05 {}") == true, "\(lines)")
        #expect(lines.dropFirst().first == #"NOTIFY 2.05 {"target":22}"#, "\(lines)")

        async let flow = script("coap_client.py", ["rpc-flow", "--await-rpc", "--port", port, "--token", device.token, "--timeout", "20"])
        // Deliver once the /rpc observation is there (409 before: no live session).
        var rpc: HTTPAnswer?
        #expect(try await eventually(timeout: .seconds(10)) {
            rpc = try await admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"setValve","params":{"open":true}}"#)
            return rpc?.status == 200
        })
        let answer = try JSONSerialization.jsonObject(with: Data((rpc?.body ?? "").utf8)) as? [String: Any]
        let id = try #require(answer?["id"] as? Int)
        // Two-way: the admin call returned the device's reply.
        #expect((answer?["response"] as? [String: Any])?["result"] as? String == "ok", "\(answer ?? [:])")
        // The client-side RPC reaches Kafka; the backend's answer on the
        // command topic comes back as the response to the device's POST.
        let records = try await readRecords(fixture, "tb.rpc", count: 2)
        #expect(Set(values(records)) == [
            #"{"requestId":"coap-1","payload":{"method":"getTime","params":{}}}"#,
            #"{"requestId":"\#(id)","payload":{"result":"ok"}}"#,
        ])
        let command = #"{"deviceId":"\#(device.id)","type":"rpc_response","id":"coap-1","response":{"time":1700000000}}"# + "\n"
        let produce = try await runCommand(
            "kcat", ["-b", fixture.kafka.bootstrapServers, "-P", "-t", "tb.commands", "-k", device.id], input: Data(command.utf8))
        #expect(produce.status == 0, "\(produce.stderr)")
        let result = try await flow
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout.split(separator: "\n").map(String.init)
        #expect(output == [
            "REGISTERED 2.05",
            #"RPC 2.05 {"id":\#(id),"method":"setValve","params":{"open":true}}"#,
            "RPC_REPLY 2.04 ",
            #"CLIENT_RPC 2.05 {"time":1700000000}"#,
        ], "\(output)")
        try await fixture.stop()
    }

    @Test("a client-side RPC nobody answers: 5.04 after COAP_ACK_TIMEOUT, and the request is in Kafka")
    func clientRPCUnanswered() async throws {
        let fixture = try await start(["COAP_ACK_TIMEOUT": "2"])
        let device = try await fixture.addDevice("coap-rpc-silent")
        let result = try await script("coap_client.py", [
            "request", "--port", "\(fixture.gateway.coapPort)", "--method", "POST", "--path", "/api/v1/\(device.token)/rpc",
            "--payload", #"{"method":"getTime","params":{}}"#, "--content-format", "50",
        ])
        #expect(result.stdout.trimmingCharacters(in: .newlines) == "5.04 no answer to client-side RPC coap-1 within the timeout", "\(result.stdout) \(result.stderr)")
        let records = try await readRecords(fixture, "tb.rpc", count: 1)
        #expect(values(records) == [#"{"requestId":"coap-1","payload":{"method":"getTime","params":{}}}"#])
        try await fixture.stop()
    }

    @Test("a duplicate CON (same message id) is forwarded once and answered twice with the same bytes")
    func duplicate() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("coap-dup")
        let result = try await script("coap_raw.py", [
            "duplicate", "--port", "\(fixture.gateway.coapPort)", "--path", "/api/v1/\(device.token)/telemetry", "--payload", #"{"dup":1}"#,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ") }
        try #require(lines.count == 2, "\(result.stdout)")
        #expect(lines[0][0] == "RESPONSE1" && lines[1][0] == "RESPONSE2")
        #expect(lines[0][1] == "ACK" && lines[0][2] == "2.04")
        #expect(lines[0][1...] == lines[1][1...], "the replayed answer is byte for byte the first")
        let records = try await readRecords(fixture, "tb.telemetry", count: 1)
        #expect(values(records) == [#"{"dup":1}"#])
        try await fixture.stop()
    }

    @Test("malformed datagrams get RST (bad version ignored); garbage from one peer does not disturb another's exchange")
    func garbage() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("coap-garbage")
        let port = "\(fixture.gateway.coapPort)"
        let malformed = try await script("coap_raw.py", ["malformed", "--port", port])
        #expect(malformed.status == 0, "\(malformed.stderr)")
        let answers = Dictionary(uniqueKeysWithValues: malformed.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ", maxSplits: 2)
            return parts.count == 3 ? (String(parts[1]), String(parts[2])) : nil
        })
        #expect(answers["bad-version"] == "NONE")
        for name in ["token-length-9", "token-length-15", "delta-15-not-marker", "truncated-option", "empty-payload-after-marker", "length-15"] {
            #expect(answers[name]?.hasPrefix("RST ") == true, "\(name): \(answers[name] ?? "missing")")
        }
        let exchange = try await script("coap_raw.py", [
            "garbage-and-exchange", "--port", port, "--path", "/api/v1/\(device.token)/telemetry", "--payload", #"{"clean":1}"#, "--count", "300",
        ])
        #expect(exchange.stdout.trimmingCharacters(in: .newlines) == "B 2.04", "\(exchange.stdout) \(exchange.stderr)")
        let ping = try await script("coap_raw.py", ["ping", "--port", port])
        #expect(ping.stdout.trimmingCharacters(in: .newlines) == "PONG RST")
        let records = try await readRecords(fixture, "tb.telemetry", count: 1)
        #expect(values(records) == [#"{"clean":1}"#])
        #expect(fixture.gateway.isRunning)
        try await fixture.stop()
    }

    @Test("a CON POST while the Kafka broker is down is not answered 2.04 until the broker returns; forwarded once")
    func kafkaOutage() async throws {
        let fixture = try await start(["COAP_ACK_TIMEOUT": "30", "KAFKA_DELIVERY_TIMEOUT": "60"])
        let device = try await fixture.addDevice("coap-outage")
        let port = "\(fixture.gateway.coapPort)"
        fixture.kafka.setBrokerDown()
        let down = ContinuousClock.now
        async let pending = script("coap_client.py", [
            "request", "--port", port, "--method", "POST", "--path", "/api/v1/\(device.token)/telemetry",
            "--payload", #"{"outage":1}"#, "--content-format", "50", "--timeout", "40",
        ])
        try await Task.sleep(for: .seconds(4))
        fixture.kafka.setBrokerUp()
        let up = ContinuousClock.now
        let result = try await pending
        let answered = ContinuousClock.now
        // aiocoap took the empty ACK and waited for the separate response.
        #expect(result.stdout.trimmingCharacters(in: .newlines) == "2.04 ", "\(result.stdout) \(result.stderr)")
        #expect(answered > up, "answered only after the broker was back (down at \(down), up at \(up))")
        try await Task.sleep(for: .seconds(1))
        let records = try await readRecords(fixture, "tb.telemetry", count: 1)
        #expect(values(records) == [#"{"outage":1}"#])
        try await fixture.stop()
    }
}
