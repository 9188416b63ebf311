import Foundation
import KafkaSink
import TestSupport
import Testing

/// Shared attributes and server-side RPC to devices over HTTP long-poll and
/// MQTT, with curl and the mosquitto clients; two-way RPC returns the
/// device's reply to the admin call and puts it in the RPC topic.
@Suite("Downlink: HTTP long-poll and two-way RPC", .timeLimit(.minutes(3)))
struct DownlinkTests {
    static let key = "downlink-admin-key"

    func admin(_ fixture: GatewayFixture, _ method: String, _ path: String, _ body: String? = nil) async throws -> HTTPAnswer {
        try await curl(method, fixture.gateway.adminURL + path, body: body, headers: ["Authorization": "Bearer \(Self.key)"])
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test("curl long-polls /attributes/updates and gets the shared-attribute update; an empty poll ends 408")
    func attributesLongPoll() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let device = try await fixture.addDevice("poll-1")
        let base = fixture.gateway.baseURL + "/api/v1/\(device.token)"
        async let poll = curl("GET", base + "/attributes/updates?timeout=20000")
        _ = try await fixture.gateway.waitForLog(message: "HTTP long-poll waiting", timeout: .seconds(10))
        #expect(try await admin(fixture, "POST", "/api/devices/\(device.id)/attributes/shared", #"{"fw":"2.0"}"#).status == 200)
        let answer = try await poll
        #expect(answer.status == 200 && answer.body == #"{"fw":"2.0"}"#, "\(answer.status) \(answer.body)")
        let empty = try await curl("GET", base + "/attributes/updates?timeout=300")
        #expect(empty.status == 408)
        #expect(try await curl("GET", base + "/attributes/updates?timeout=abc").status == 400)
        try await fixture.stop()
    }

    @Test("two-way RPC over an HTTP long-poll: the admin call returns the reply, which is in Kafka; no reply 504; offline 409; client-side RPC answered from the command topic")
    func httpRPC() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key])
        let device = try await fixture.addDevice("poll-rpc")
        let base = fixture.gateway.baseURL + "/api/v1/\(device.token)"
        #expect(try await admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"x"}"#).status == 409)

        async let poll = curl("GET", base + "/rpc?timeout=20000")
        _ = try await fixture.gateway.waitForLog(message: "HTTP long-poll waiting", timeout: .seconds(10))
        async let call = admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"setGpio","params":{"pin":4},"timeout":10000}"#)
        let request = try await poll
        #expect(request.status == 200, "\(request.body)")
        let id = try #require(json(request.body)["id"] as? Int, "\(request.body)")
        #expect(request.body == #"{"id":\#(id),"method":"setGpio","params":{"pin":4}}"#)
        let reply = try await curl("POST", base + "/rpc/\(id)", body: #"{"pin":4,"value":1}"#)
        #expect(reply.status == 200)
        let answered = try await call
        #expect(answered.status == 200 && answered.body == #"{"id":\#(id),"response":{"pin":4,"value":1}}"#, "\(answered.body)")

        // A device that takes the request and never answers.
        async let silentPoll = curl("GET", base + "/rpc?timeout=20000")
        #expect(try await eventually(timeout: .seconds(10)) {
            fixture.gateway.logs.filter { $0["message"] as? String == "HTTP long-poll waiting" }.count >= 2
        })
        let unanswered = try await admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"reboot","timeout":500}"#)
        #expect(unanswered.status == 504, "\(unanswered.body)")
        #expect(try await silentPoll.status == 200)

        // Client-side RPC from the device goes to the RPC topic; the
        // backend's answer on the command topic is the response.
        async let clientCall = curl("POST", base + "/rpc", body: #"{"method":"getTime","params":{}}"#)
        var records: [KafkaRecord] = []
        #expect(try await eventually(timeout: .seconds(10)) {
            records = try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers)
            return records.count >= 2
        })
        let payloads = Set(records.map { String($0.payload.split(separator: #""values":"#).last?.split(separator: #","transport""#).first ?? "") })
        #expect(payloads == [#"{"requestId":"\#(id)","payload":{"pin":4,"value":1}}"#, #"{"requestId":"http-1","payload":{"method":"getTime","params":{}}}"#], "\(payloads)")
        let answer = #"{"deviceId":"\#(device.id)","type":"rpc_response","id":"http-1","response":{"time":1700000000}}"# + "\n"
        let produce = try await runCommand(
            "kcat", ["-b", fixture.kafka.bootstrapServers, "-P", "-t", "tb.commands", "-k", device.id], input: Data(answer.utf8))
        #expect(produce.status == 0, "\(produce.stderr)")
        let clientAnswer = try await clientCall
        #expect(clientAnswer.status == 200 && clientAnswer.body == #"{"time":1700000000}"#, "\(clientAnswer.status) \(clientAnswer.body)")
        try await fixture.stop()
    }

    @Test("a client-side RPC over HTTP nobody answers: 408 after HTTP_ACK_TIMEOUT, and the request is in Kafka")
    func httpClientRPCUnanswered() async throws {
        let fixture = try await GatewayFixture.start(["HTTP_ACK_TIMEOUT": "1"])
        let device = try await fixture.addDevice("http-rpc-silent")
        let call = try await curl("POST", fixture.gateway.baseURL + "/api/v1/\(device.token)/rpc", body: #"{"method":"getTime"}"#)
        #expect(call.status == 408 && call.body.contains("no answer to client-side RPC http-1"), "\(call.status) \(call.body)")
        #expect(try await eventually(timeout: .seconds(10)) {
            try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers)
                .contains { $0.payload.contains(#""values":{"requestId":"http-1","payload":{"method":"getTime"}}"#) }
        })
        try await fixture.stop()
    }

    @Test("two-way RPC over MQTT: mosquitto_sub receives the request, mosquitto_pub replies, the admin call returns it")
    func mqttRPC() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key, "MQTT_ENABLED": "true"])
        let device = try await fixture.addDevice("mqtt-rpc")
        let port = "\(fixture.gateway.mqttPort)"
        async let sub = runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", port, "-u", device.token, "-i", "rpc-sub", "-q", "1", "-t", "v1/devices/me/rpc/request/+", "-C", "1", "-v",
        ], timeout: .seconds(20))
        _ = try await fixture.gateway.waitForLog(message: "MQTT subscribed", timeout: .seconds(10))
        async let call = admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"setMode","params":"eco","timeout":10000}"#)
        let received = try await sub
        let parts = received.stdout.trimmingCharacters(in: .newlines).split(separator: " ", maxSplits: 1)
        try #require(parts.count == 2, "\(received.stdout) \(received.stderr)")
        let topic = String(parts[0])
        #expect(topic.hasPrefix("v1/devices/me/rpc/request/") && parts[1] == #"{"method":"setMode","params":"eco"}"#)
        let id = String(topic.dropFirst("v1/devices/me/rpc/request/".count))
        let reply = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", port, "-u", device.token, "-i", "rpc-pub", "-q", "1", "-t", "v1/devices/me/rpc/response/\(id)", "-m", #"{"mode":"eco"}"#,
        ], timeout: .seconds(20))
        #expect(reply.status == 0, "\(reply.stderr)")
        let answered = try await call
        #expect(answered.status == 200 && answered.body == #"{"id":\#(id),"response":{"mode":"eco"}}"#, "\(answered.body)")
        #expect(try await eventually(timeout: .seconds(10)) {
            try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers).contains { $0.payload.contains(#""requestId":"\#(id)","payload":{"mode":"eco"}"#) }
        })
        try await fixture.stop()
    }

    @Test("the Kafka command topic (kcat): shared attributes and an RPC reach an MQTT device; a malformed record is skipped and counted")
    func commandTopic() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key, "MQTT_ENABLED": "true"])
        _ = try await fixture.gateway.waitForLog(message: "command consumer assigned", timeout: .seconds(30))
        let device = try await fixture.addDevice("cmd-1")
        async let sub = runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-q", "1", "-v", "-C", "2",
            "-t", "v1/devices/me/attributes", "-t", "v1/devices/me/rpc/request/+",
        ], timeout: .seconds(30))
        _ = try await fixture.gateway.waitForLog(message: "MQTT subscribed", timeout: .seconds(10))
        let records = [
            "this is not a command",
            #"{"deviceId":"\#(device.id)","type":"attributes","shared":{"mode":"eco"}}"#,
            #"{"deviceId":"\#(device.id)","type":"rpc","id":77,"method":"blink","params":{"n":3}}"#,
        ].joined(separator: "\n") + "\n"
        let produce = try await runCommand(
            "kcat", ["-b", fixture.kafka.bootstrapServers, "-P", "-t", "tb.commands", "-k", device.id], input: Data(records.utf8))
        #expect(produce.status == 0, "\(produce.stderr)")
        let received = try await sub
        #expect(received.stdout.split(separator: "\n").map(String.init) == [
            #"v1/devices/me/attributes {"mode":"eco"}"#, #"v1/devices/me/rpc/request/77 {"method":"blink","params":{"n":3}}"#,
        ], "\(received.stdout) \(received.stderr)")
        let stored = try await admin(fixture, "GET", "/api/devices/\(device.id)/attributes/shared")
        #expect(stored.body == #"{"mode":"eco"}"#)
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_errors_total{kind="command_invalid"} 1"#))
        try await fixture.stop()
    }

    @Test("client-side RPC from an MQTT device reaches Kafka; the answer produced on the command topic reaches the device")
    func clientRPCAnswer() async throws {
        let fixture = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        _ = try await fixture.gateway.waitForLog(message: "command consumer assigned", timeout: .seconds(30))
        let device = try await fixture.addDevice("cmd-rr")
        // mosquitto_rr subscribes to the response topic, publishes the request and prints the answer.
        async let rr = runCommand("mosquitto_rr", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-q", "1",
            "-t", "v1/devices/me/rpc/request/5", "-e", "v1/devices/me/rpc/response/5", "-m", #"{"method":"getTime","params":{}}"#,
        ], timeout: .seconds(30))
        #expect(try await eventually(timeout: .seconds(15)) {
            try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers)
                .contains { $0.payload.contains(#""requestId":"5","payload":{"method":"getTime","params":{}}"#) }
        })
        let answer = #"{"deviceId":"\#(device.id)","type":"rpc_response","id":"5","response":{"time":1700000000}}"# + "\n"
        let produce = try await runCommand(
            "kcat", ["-b", fixture.kafka.bootstrapServers, "-P", "-t", "tb.commands", "-k", device.id], input: Data(answer.utf8))
        #expect(produce.status == 0, "\(produce.stderr)")
        let result = try await rr
        #expect(result.stdout.trimmingCharacters(in: .newlines) == #"{"time":1700000000}"#, "\(result.stdout) \(result.stderr)")
        try await fixture.stop()
    }

    @Test("persistent RPC: QUEUED while the MQTT device is offline, kept across a restart, delivered when it subscribes, SUCCESSFUL with the reply; another EXPIRED; one unanswered at a restart FAILED; every state on the RPC topic")
    func persistentRPC() async throws {
        let fixture = try await GatewayFixture.start(["ADMIN_API_KEY": Self.key, "MQTT_ENABLED": "true"])
        let device = try await fixture.addDevice("rpc-offline")
        let queued = try await admin(fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"ping","params":{"n":1},"persistent":true,"timeout":10000}"#)
        #expect(queued.status == 200 && json(queued.body)["status"] as? String == "QUEUED", "\(queued.body)")
        let id = try #require(json(queued.body)["id"] as? Int)
        let soon = nowMilliseconds() + 700
        let expiring = try await admin(
            fixture, "POST", "/api/devices/\(device.id)/rpc", #"{"method":"late","persistent":true,"expirationTime":\#(soon)}"#)
        let expiringId = try #require(json(expiring.body)["id"] as? Int)
        #expect(try await eventually(timeout: .seconds(10)) {
            json(try await admin(fixture, "GET", "/api/rpc/\(expiringId)").body)["status"] as? String == "EXPIRED"
        })

        // A restart with the same registry: still QUEUED.
        #expect(try await fixture.gateway.terminate() == 0)
        let restarted = GatewayProcess(directory: fixture.directory, environment: fixture.gateway.environment)
        try await restarted.start()
        func adminAfter(_ method: String, _ path: String) async throws -> HTTPAnswer {
            try await curl(method, restarted.adminURL + path, headers: ["Authorization": "Bearer \(Self.key)"])
        }
        #expect(json(try await adminAfter("GET", "/api/rpc/\(id)").body)["status"] as? String == "QUEUED")

        let port = "\(restarted.mqttPort)"
        let received = try await runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", port, "-u", device.token, "-i", "rpc-late", "-q", "1", "-t", "v1/devices/me/rpc/request/+", "-C", "1", "-v",
        ], timeout: .seconds(20))
        #expect(received.stdout.trimmingCharacters(in: .newlines) == #"v1/devices/me/rpc/request/\#(id) {"method":"ping","params":{"n":1}}"#, "\(received.stdout)")
        let reply = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", port, "-u", device.token, "-i", "rpc-late-reply", "-q", "1", "-t", "v1/devices/me/rpc/response/\(id)", "-m", #"{"pong":true}"#,
        ], timeout: .seconds(20))
        #expect(reply.status == 0)
        var last: [String: Any] = [:]
        #expect(try await eventually(timeout: .seconds(10)) {
            last = json(try await adminAfter("GET", "/api/rpc/\(id)").body)
            return last["status"] as? String == "SUCCESSFUL"
        }, "\(last)")
        #expect((last["response"] as? [String: Any])?["pong"] as? Bool == true, "\(last)")

        // One the device takes (PUBACK: DELIVERED) and never answers: the
        // gateway stops while it waits, so it is FAILED, not sent twice.
        async let silent = runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", port, "-u", device.token, "-i", "rpc-silent", "-q", "1", "-t", "v1/devices/me/rpc/request/+", "-C", "1",
        ], timeout: .seconds(20))
        #expect(try await eventually(timeout: .seconds(10)) {
            restarted.logs.filter { $0["message"] as? String == "MQTT subscribed" }.count >= 2
        })
        let pending = try await curl(
            "POST", restarted.adminURL + "/api/devices/\(device.id)/rpc", body: #"{"method":"reboot","persistent":true,"timeout":60000}"#,
            headers: ["Authorization": "Bearer \(Self.key)"])
        let pendingId = try #require(json(pending.body)["id"] as? Int, "\(pending.body)")
        #expect(try await eventually(timeout: .seconds(10)) {
            json(try await adminAfter("GET", "/api/rpc/\(pendingId)").body)["status"] as? String == "DELIVERED"
        })
        #expect(try await silent.stdout.contains("reboot"))
        #expect(try await restarted.terminate() == 0)
        let third = GatewayProcess(directory: fixture.directory, environment: fixture.gateway.environment)
        try await third.start()
        let failed = try await curl("GET", third.adminURL + "/api/rpc/\(pendingId)", headers: ["Authorization": "Bearer \(Self.key)"])
        #expect(json(failed.body)["status"] as? String == "FAILED", "\(failed.body)")

        // Every state change is a record on the RPC topic, in order, from the "gateway" transport.
        let expected = [
            String(id): ["QUEUED", "SENT", "DELIVERED", "SUCCESSFUL"], String(expiringId): ["QUEUED", "EXPIRED"],
            String(pendingId): ["QUEUED", "SENT", "DELIVERED", "FAILED"],
        ]
        var states: [String: [String]] = [:]
        var keyed = true
        #expect(try await eventually(timeout: .seconds(10)) {
            states = [:]
            for record in try await readTopic("tb.rpc", bootstrap: fixture.kafka.bootstrapServers) where record.json["transport"] as? String == "gateway" {
                guard let values = record.json["values"] as? [String: Any], let rpc = values["requestId"] as? String, let state = values["state"] as? String
                else { continue }
                keyed = keyed && record.key == device.id && record.headers["transport"] == "gateway"
                states[rpc, default: []].append(state)
            }
            return states == expected
        }, "\(states)")
        #expect(keyed, "state records are keyed by the device id and carry the transport header")
        #expect(try await third.terminate() == 0)
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}
