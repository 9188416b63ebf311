import Foundation
import KafkaSink
import TestSupport
import Testing

/// The LwM2M server role against an LwM2M client that shares no code with
/// it: Tests/IntegrationTests/Scripts/lwm2m_client.py on aiocoap, with its
/// own TLV and SenML encoders.
@Suite("LwM2M server", .timeLimit(.minutes(3)))
struct LwM2MTests {
    static let key = "lwm2m-admin-key"

    func start(profiles: String? = nil, _ extra: [String: String] = [:]) async throws -> GatewayFixture {
        var environment = ["LWM2M_ENABLED": "true", "ADMIN_API_KEY": Self.key]
        environment.merge(extra) { $1 }
        if let profiles {
            // The profiles file lives in DATA_DIR, which the fixture creates under its directory.
            let directory = try makeTemporaryDirectory("tb-gateway-lwm2m-profiles")
            try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
            try profiles.write(toFile: directory + "/data/lwm2m-profiles.json", atomically: true, encoding: .utf8)
            environment["DATA_DIR"] = directory + "/data"
        }
        return try await GatewayFixture.start(environment)
    }

    func addDevice(_ fixture: GatewayFixture, _ name: String, endpoint: String, type: String = "sensor") async throws -> String {
        let result = try await fixture.gateway.cli(["device", "add", name, "--type", type, "--lwm2m-endpoint", endpoint, "--json"])
        try #require(result.status == 0, "device add failed: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        return try #require(object["id"] as? String)
    }

    func client(_ fixture: GatewayFixture, _ arguments: [String], timeout: Duration = .seconds(60)) async throws -> [[String: Any]] {
        let python = packageRoot() + "/.venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "make test creates .venv with aiocoap")
        let result = try await runCommand(
            python, [packageRoot() + "/Tests/IntegrationTests/Scripts/lwm2m_client.py", "--server-port", "\(fixture.gateway.lwm2mPort)"] + arguments,
            timeout: timeout)
        return result.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    func admin(_ fixture: GatewayFixture, _ method: String, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: [String: Any]) {
        let answer = try await curl(method, fixture.gateway.adminURL + path, body: body, headers: ["Authorization": "Bearer \(Self.key)"])
        let json = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any] ?? [:]
        return (answer.status, json)
    }

    func events(_ list: [[String: Any]], _ name: String) -> [[String: Any]] {
        list.filter { $0["event"] as? String == name }
    }

    @Test("registration refused: unknown endpoint 4.03 (an auth failure), unsupported LwM2M version 4.12")
    func refused() async throws {
        let fixture = try await start()
        _ = try await addDevice(fixture, "lwm2m-known", endpoint: "known-ep")
        let unknown = try await client(fixture, ["--endpoint", "nobody", "--timeout", "15"])
        #expect(events(unknown, "register_refused").first?["code"] as? String == "4.03", "\(unknown)")
        let newer = try await client(fixture, ["--endpoint", "known-ep", "--version", "1.2", "--timeout", "15"])
        #expect(events(newer, "register_refused").first?["code"] as? String == "4.12", "\(newer)")
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_auth_failures_total{transport="lwm2m"} 1"#))
        #expect(metrics.contains(#"tb_gateway_devices_connected{transport="lwm2m"} 0"#))
        try await fixture.stop()
    }

    @Test("register; read /3/0 as TLV and SenML JSON; write, execute, discover; observe into Kafka; cancel; update; de-register")
    func lifecycle() async throws {
        let fixture = try await start(profiles: #"{"thermometer":{"keys":{"3303/0/5700":"temperature"}}}"#)
        let id = try await addDevice(fixture, "lwm2m-1", endpoint: "thermo-1", type: "thermometer")
        async let run = client(fixture, [
            "--endpoint", "thermo-1", "--lifetime", "60", "--notify-interval", "0.5", "--timeout", "60",
            "--script", "wait-event:observe_cancel,update,deregister",
        ])
        _ = try await fixture.gateway.waitForLog(message: "LwM2M client registered", timeout: .seconds(15))

        let registration = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m")
        #expect(registration.status == 200 && registration.json["endpoint"] as? String == "thermo-1")
        #expect((registration.json["objects"] as? [String])?.contains("/3303/0") == true, "\(registration.json)")

        for format in ["tlv", "senml-json", "json"] {
            let read = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m/3/0?format=\(format)")
            #expect(read.status == 200, "\(format): \(read.json)")
            let values = read.json["values"] as? [String: Any] ?? [:]
            #expect(values["3/0/0"] as? String == "tb-test", "\(format): \(values)")
            #expect((values["3/0/9"] as? NSNumber)?.intValue == 87, "\(format): \(values)")
            #expect((values["3/0/11/0"] as? NSNumber)?.intValue == 0, "\(format): \(values)")
        }
        let write = try await admin(fixture, "PUT", "/api/devices/\(id)/lwm2m/3/0/13", #"{"value":1700000000}"#)
        #expect(write.status == 200, "\(write.json)")
        let readBack = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m/3/0/13?format=text")
        #expect(((readBack.json["values"] as? [String: Any])?["3/0/13"] as? NSNumber)?.int64Value == 1_700_000_000, "\(readBack.json)")
        let execute = try await admin(fixture, "POST", "/api/devices/\(id)/lwm2m/3/0/4/execute")
        #expect(execute.status == 200, "\(execute.json)")
        let readOnly = try await admin(fixture, "PUT", "/api/devices/\(id)/lwm2m/3/0/0", #"{"value":"x"}"#)
        #expect(readOnly.status == 405, "a read-only resource: \(readOnly.json)")
        let discover = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m/3303/0/discover")
        #expect((discover.json["links"] as? String)?.contains("</3303/0/5700>") == true, "\(discover.json)")
        let attributes = try await admin(fixture, "PUT", "/api/devices/\(id)/lwm2m/3303/0/5700/attributes", #"{"pmin":1,"pmax":5}"#)
        #expect(attributes.status == 200, "\(attributes.json)")

        let observe = try await admin(fixture, "POST", "/api/devices/\(id)/lwm2m/3303/0/5700/observe")
        #expect(observe.status == 200, "\(observe.json)")
        // The first value and at least two notifications reach Kafka under the profile's key.
        var temperatures: [Double] = []
        #expect(try await eventually(timeout: .seconds(15)) {
            let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
            temperatures = records.filter { $0.key == id && $0.headers["transport"] == "lwm2m" }
                .compactMap { (($0.json["values"] as? [String: Any])?["temperature"] as? NSNumber)?.doubleValue }
            return temperatures.count >= 3
        }, "\(temperatures)")
        #expect(temperatures.first == 21.5)
        #expect(zip(temperatures, temperatures.dropFirst()).allSatisfy { $1 == $0 + 0.5 }, "\(temperatures)")
        let cancel = try await admin(fixture, "DELETE", "/api/devices/\(id)/lwm2m/3303/0/5700/observe")
        #expect(cancel.status == 200, "\(cancel.json)")

        let output = try await run
        #expect(events(output, "write").first?["path"] as? String == "/3/0/13")
        #expect(events(output, "execute").first?["path"] as? String == "/3/0/4")
        #expect(events(output, "observe_cancel").first?["how"] as? String == "deregister", "\(output)")
        #expect(events(output, "updated").first?["code"] as? String == "2.04")
        #expect(events(output, "deregistered").first?["code"] as? String == "2.02")

        let lifecycle = try await readTopic("tb.events", bootstrap: fixture.kafka.bootstrapServers)
            .filter { $0.key == id }.compactMap { $0.json["values"] as? [String: Any] }.compactMap { $0["event"] as? String }
        #expect(lifecycle == ["registered", "updated", "deregistered"])
        let gone = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m")
        #expect(gone.status == 404)
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_devices_connected{transport="lwm2m"} 0"#))
        try await fixture.stop()
    }

    @Test("a CON notification is acknowledged only after Kafka took it: during an outage the device gets no ACK; every value it sent arrives once")
    func notificationAcknowledgedAfterSink() async throws {
        // Records wait in librdkafka through the outage instead of failing.
        let fixture = try await start(["KAFKA_DELIVERY_TIMEOUT": "60"])
        let id = try await addDevice(fixture, "lwm2m-ack", endpoint: "ack-1")
        async let run = client(fixture, [
            "--endpoint", "ack-1", "--lifetime", "60", "--notify-interval", "0.5", "--timeout", "60",
            "--script", "wait-event:observe_cancel,deregister",
        ])
        _ = try await fixture.gateway.waitForLog(message: "LwM2M client registered", timeout: .seconds(15))
        let attributes = try await admin(fixture, "PUT", "/api/devices/\(id)/lwm2m/3303/0/5700/attributes", #"{"pmin":1,"pmax":5}"#)
        #expect(attributes.status == 200, "\(attributes.json)")
        let observe = try await admin(fixture, "POST", "/api/devices/\(id)/lwm2m/3303/0/5700/observe")
        #expect(observe.status == 200, "\(observe.json)")
        func temperatures() async throws -> [Double] {
            try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
                .filter { $0.key == id && $0.headers["transport"] == "lwm2m" }
                .compactMap { (($0.json["values"] as? [String: Any])?["3303/0/5700"] as? NSNumber)?.doubleValue }
        }
        #expect(try await eventually(timeout: .seconds(15)) { try await temperatures().count >= 2 })

        // The broker is down for 6 s: the notification sent meanwhile is not
        // acknowledged (the device holds back the next ones, RFC 7641
        // §4.5.2) and is retransmitted; once Kafka has it, the ACK goes out.
        fixture.kafka.setBrokerDown()
        try await Task.sleep(for: .seconds(6))
        fixture.kafka.setBrokerUp()
        var seen: [Double] = []
        let before = try await temperatures().count
        #expect(try await eventually(timeout: .seconds(20)) {
            seen = try await temperatures()
            return seen.count >= before + 2
        }, "\(seen)")
        let cancel = try await admin(fixture, "DELETE", "/api/devices/\(id)/lwm2m/3303/0/5700/observe")
        #expect(cancel.status == 200, "\(cancel.json)")
        let output = try await run

        let skipped = events(output, "notify_skipped")
        #expect(!skipped.isEmpty, "no notification was held back: was the one sent in the outage acknowledged at once? \(output)")
        #expect(skipped.allSatisfy { $0["reason"] as? String == "CON to server still unacknowledged" })
        // The first value (the observe response) and every notification sent, each exactly once.
        let sent = events(output, "notify").compactMap { ($0["value"] as? NSNumber)?.doubleValue }
        #expect(try await eventually(timeout: .seconds(10)) {
            seen = try await temperatures()
            return seen.count >= sent.count + 1
        })
        #expect(Set(seen).count == seen.count, "a value arrived twice: \(seen)")
        #expect(Set(sent).isSubset(of: Set(seen)), "sent \(sent), in Kafka \(seen)")
        #expect(seen.count == sent.count + 1, "sent \(sent), in Kafka \(seen)")
        try await fixture.stop()
    }

    @Test("a profile's paths are observed on registration; a registration that is not updated expires")
    func observeOnRegistrationAndExpiry() async throws {
        let fixture = try await start(profiles: #"{"auto":{"keys":{"3303/0/5700":"t"},"observe":["/3303/0/5700"]}}"#)
        let id = try await addDevice(fixture, "lwm2m-auto", endpoint: "auto-1", type: "auto")
        // Lifetime 1 s, gone without de-registering after two notifications.
        let output = try await client(fixture, [
            "--endpoint", "auto-1", "--lifetime", "1", "--notify-interval", "0.3", "--timeout", "30", "--script", "wait-event:notify:2,exit",
        ])
        #expect(events(output, "observe").first?["path"] as? String == "/3303/0/5700", "\(output)")
        #expect(try await eventually(timeout: .seconds(10)) {
            let events = try await readTopic("tb.events", bootstrap: fixture.kafka.bootstrapServers).filter { $0.key == id }
            return events.contains { $0.payload.contains(#""event":"expired""#) }
        })
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers).filter { $0.key == id }
        #expect(records.count >= 2 && records.allSatisfy { ($0.json["values"] as? [String: Any])?["t"] != nil }, "\(records.map(\.payload))")
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_devices_connected{transport="lwm2m"} 0"#))
        try await fixture.stop()
    }

    @Test("server pull: a device that does not answer gets 504 naming the operation; an unregistered one 404")
    func timeout() async throws {
        let fixture = try await start()
        let id = try await addDevice(fixture, "lwm2m-silent", endpoint: "silent-1")
        let other = try await addDevice(fixture, "lwm2m-absent", endpoint: "absent-1")
        async let run = client(fixture, ["--endpoint", "silent-1", "--no-answer", "--timeout", "30", "--script", "sleep:4,deregister"])
        _ = try await fixture.gateway.waitForLog(message: "LwM2M client registered", timeout: .seconds(15))
        let read = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m/3/0?timeout=1000")
        #expect(read.status == 504)
        #expect((read.json["error"] as? String)?.contains("read /3/0 timed out") == true, "\(read.json)")
        let absent = try await admin(fixture, "GET", "/api/devices/\(other)/lwm2m/3/0")
        #expect(absent.status == 404)
        _ = try await run
        try await fixture.stop()
    }

    @Test("queue mode: operations for a sleeping device get 202 and go out on its next update (CONFIRMED); unanswered ones FAILED after three attempts")
    func queueMode() async throws {
        let fixture = try await start(["LWM2M_QUEUE_AWAKE_TIME": "1", "LWM2M_REQUEST_TIMEOUT": "0.5"])
        let id = try await addDevice(fixture, "lwm2m-queue", endpoint: "queue-1")
        async let run = client(fixture, [
            "--endpoint", "queue-1", "--queue-mode", "--timeout", "40", "--script", "sleep:2.5,update,wait-event:read,sleep:0.5,deregister",
        ])
        _ = try await fixture.gateway.waitForLog(message: "LwM2M client registered", timeout: .seconds(15))
        try await Task.sleep(for: .milliseconds(1300))  // past LWM2M_QUEUE_AWAKE_TIME: asleep
        let write = try await admin(fixture, "PUT", "/api/devices/\(id)/lwm2m/3/0/13", #"{"value":1234}"#)
        #expect(write.status == 202 && write.json["status"] as? String == "QUEUED", "\(write.json)")
        let read = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m/3/0/9")
        #expect(read.status == 202, "\(read.json)")
        let writeId = try #require(write.json["id"] as? Int)
        let readId = try #require(read.json["id"] as? Int)
        var last: [String: Any] = [:]
        #expect(try await eventually(timeout: .seconds(15)) {
            last = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m-operations/\(readId)").json
            return last["status"] as? String == "CONFIRMED"
        }, "\(last)")
        let values = (last["result"] as? [String: Any])?["values"] as? [String: Any]
        #expect((values?["3/0/9"] as? NSNumber)?.intValue == 87, "\(last)")
        let confirmed = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m-operations/\(writeId)").json
        #expect(confirmed["status"] as? String == "CONFIRMED" && confirmed["attempts"] as? Int == 1, "\(confirmed)")
        let output = try await run
        #expect((events(output, "write").first?["value"] as? NSNumber)?.intValue == 1234, "\(output)")
        let list = try await admin(fixture, "GET", "/api/devices/\(id)/lwm2m-operations")
        #expect((list.json["operations"] as? [[String: Any]])?.count == 2)

        // A device that never answers: three wake-ups, three time-outs, FAILED.
        let silent = try await addDevice(fixture, "lwm2m-queue-silent", endpoint: "queue-2")
        async let silentRun = client(fixture, [
            "--endpoint", "queue-2", "--queue-mode", "--no-answer", "--timeout", "40",
            "--script", "sleep:2,update,sleep:1.5,update,sleep:1.5,update,sleep:1.5,deregister",
        ])
        #expect(try await eventually(timeout: .seconds(10)) {
            try await admin(fixture, "GET", "/api/devices/\(silent)/lwm2m").status == 200
        })
        try await Task.sleep(for: .milliseconds(1300))
        let queued = try await admin(fixture, "POST", "/api/devices/\(silent)/lwm2m/3/0/4/execute")
        #expect(queued.status == 202, "\(queued.json)")
        let queuedId = try #require(queued.json["id"] as? Int)
        #expect(try await eventually(timeout: .seconds(20)) {
            last = try await admin(fixture, "GET", "/api/devices/\(silent)/lwm2m-operations/\(queuedId)").json
            return last["status"] as? String == "FAILED"
        }, "\(last)")
        #expect(last["attempts"] as? Int == 3, "\(last)")
        #expect(((last["result"] as? [String: Any])?["error"] as? String)?.contains("timed out") == true, "\(last)")
        _ = try await silentRun
        try await fixture.stop()
    }

    @Test("the 1.1 Send operation (POST /dp, SenML JSON) from a registered client becomes telemetry; from anyone else 4.03")
    func send() async throws {
        let fixture = try await start()
        let id = try await addDevice(fixture, "lwm2m-send", endpoint: "send-1")
        let local = "\(try freePort())"
        let server = "coap://127.0.0.1:\(fixture.gateway.lwm2mPort)"
        // libcoap's coap-client-notls as the LwM2M client, both requests from one local port.
        let register = try await runCommand("coap-client-notls", [
            "-B", "5", "-p", local, "-m", "post", "-t", "40", "-e", "</3303/0>", server + "/rd?ep=send-1&lt=60&lwm2m=1.1",
        ])
        #expect(register.status == 0 && register.stderr.isEmpty, "\(register.stderr)")
        let send = try await runCommand("coap-client-notls", [
            "-B", "5", "-p", local, "-m", "post", "-t", "110", "-e", #"[{"bn":"/3303/0/","n":"5700","v":24.5},{"n":"5701","vs":"Cel"}]"#,
            server + "/dp",
        ])
        #expect(send.status == 0 && send.stderr.isEmpty, "\(send.stderr)")
        let stranger = try await runCommand("coap-client-notls", [
            "-B", "5", "-m", "post", "-t", "110", "-e", #"[{"bn":"/3303/0/","n":"5700","v":1}]"#, server + "/dp",
        ])
        #expect(stranger.stderr.contains("4.03"), "\(stranger.stdout) \(stranger.stderr)")
        var records: [KafkaRecord] = []
        #expect(try await eventually(timeout: .seconds(10)) {
            records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers).filter { $0.key == id }
            return !records.isEmpty
        })
        #expect(records.count == 1)
        let values = records.first?.json["values"] as? [String: Any]
        #expect((values?["3303/0/5700"] as? NSNumber)?.doubleValue == 24.5 && values?["3303/0/5701"] as? String == "Cel", "\(records.map(\.payload))")
        try await fixture.stop()
    }

    @Test("a shared attribute that the device type maps to a resource is written to the registered LwM2M device")
    func sharedAttributeWrite() async throws {
        let fixture = try await start(profiles: #"{"clocked":{"sharedAttributes":{"clock":"/3/0/13"}}}"#)
        let id = try await addDevice(fixture, "lwm2m-shared", endpoint: "shared-1", type: "clocked")
        async let run = client(fixture, ["--endpoint", "shared-1", "--timeout", "30", "--script", "wait-event:write,deregister"])
        _ = try await fixture.gateway.waitForLog(message: "LwM2M client registered", timeout: .seconds(15))
        let written = try await admin(fixture, "POST", "/api/devices/\(id)/attributes/shared", #"{"clock":1700000123,"other":"x"}"#)
        #expect(written.status == 200)
        let output = try await run
        let write = events(output, "write").first
        #expect(write?["path"] as? String == "/3/0/13" && (write?["value"] as? NSNumber)?.int64Value == 1_700_000_123, "\(output)")
        let metrics = try await curl("GET", fixture.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_downlink_total{transport="lwm2m",kind="attributes",result="sent"} 1"#), "\(metrics)")
        try await fixture.stop()
    }
}
