import Foundation
import KafkaSink
import TestSupport
import Testing

/// The MQTT device API driven by Debian's mosquitto clients (and raw
/// sockets from a Python script), read back from a mock Kafka cluster.
@Suite("MQTT transport", .timeLimit(.minutes(3)))
struct MQTTTests {
    static let versions = ["mqttv311", "mqttv5"]

    func start(_ extra: [String: String] = [:]) async throws -> GatewayFixture {
        var environment = ["MQTT_ENABLED": "true"]
        environment.merge(extra) { $1 }
        return try await GatewayFixture.start(environment)
    }

    func publish(
        _ fixture: GatewayFixture, token: String, topic: String = "v1/devices/me/telemetry", message: String,
        qos: Int, version: String
    ) async throws -> CommandResult {
        try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", token, "-i", "pub-\(qos)",
            "-t", topic, "-m", message, "-q", "\(qos)", "-V", version,
        ])
    }

    @Test("telemetry in every format at QoS 0, 1 and 2 arrives exactly", arguments: versions)
    func telemetry(version: String) async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("mqtt-\(version)", type: "meter")
        let messages = [
            (#"{"ts":1700000000000,"values":{"q":0}}"#, 0),
            (#"[{"ts":1700000000001,"values":{"q":1}},{"ts":1700000000002,"values":{"q":"1b"}}]"#, 1),
            (#"{"ts":1700000000003,"values":{"q":2}}"#, 2),
        ]
        for (message, qos) in messages {
            let result = try await publish(fixture, token: device.token, message: message, qos: qos, version: version)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let plain = try await publish(fixture, token: device.token, message: #"{"plain":true}"#, qos: 1, version: version)
        #expect(plain.status == 0)
        #expect(try await eventually {
            try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers).count == 5
        })
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        let byTs = Dictionary(grouping: records) { ($0.json["ts"] as? NSNumber)?.int64Value ?? 0 }
        func expected(_ ts: Int64, _ values: String, _ record: KafkaRecord) -> String {
            let receivedAt = (record.json["receivedAt"] as? NSNumber)?.int64Value ?? 0
            return #"{"deviceId":"\#(device.id)","deviceName":"mqtt-\#(version)","deviceType":"meter","ts":\#(ts),"values":\#(values),"transport":"mqtt","receivedAt":\#(receivedAt)}"#
        }
        for (ts, values) in [(Int64(1_700_000_000_000), #"{"q":0}"#), (1_700_000_000_001, #"{"q":1}"#),
                             (1_700_000_000_002, #"{"q":"1b"}"#), (1_700_000_000_003, #"{"q":2}"#)] {
            let record = try #require(byTs[ts]?.first, "ts \(ts)")
            #expect(byTs[ts]?.count == 1)
            #expect(record.payload == expected(ts, values, record))
            #expect(record.key == device.id && record.headers["transport"] == "mqtt")
        }
        #expect(records.contains { $0.payload.contains(#""values":{"plain":true}"#) })
        // Connected and disconnected events for every session.
        let events = try await readTopic("tb.events", bootstrap: fixture.kafka.bootstrapServers)
        #expect(events.filter { $0.payload.contains(#""event":"connected""#) }.count == 4)
        try await fixture.stop()
    }

    @Test("a second client library (paho-mqtt): telemetry, topic alias, attribute request, getSessionLimits", arguments: ["311", "5"])
    func paho(level: String) async throws {
        let python = packageRoot() + "/.venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "make test creates .venv with paho-mqtt")
        let fixture = try await start()
        let device = try await fixture.addDevice("paho-\(level)")
        // A shared attribute for the request to find, written straight into the registry.
        let sqlite = try await runCommand("sqlite3", [
            fixture.directory + "/data/registry.sqlite",
            "INSERT INTO attributes (device_id, scope, key, value, updated_at) VALUES ('\(device.id)', 'shared', 'mode', '\"eco\"', 0);",
        ])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")
        let result = try await runCommand(python, [
            packageRoot() + "/Tests/IntegrationTests/Scripts/paho_client.py", "127.0.0.1", "\(fixture.gateway.mqttPort)", device.token, level,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(output["connack"] as? String == "Success")
        #expect(output["published"] as? [Bool] == [true, true, true])
        let answers = try #require(output["answers"] as? [String: String])
        #expect(answers["v1/devices/me/attributes/response/5"] == #"{"shared":{"mode":"eco"}}"#)
        let limits = try #require(answers["v1/devices/me/rpc/response/9"])
        #expect(limits.contains(#""maxPayloadSize":65536"#) && limits.contains(#""maxInflightMessages":100"#))
        if level == "5" {
            #expect(output["receiveMaximum"] as? Int == 100)
            #expect(output["topicAliasMaximum"] as? Int == 16)
        }
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        let values = Set(records.compactMap { ((($0.json["values"] as? [String: Any])?["paho"]) as? NSNumber)?.intValue })
        #expect(records.count == 3 && values == [0, 1, 2])
        try await fixture.stop()
    }

    @Test("MQTT over TLS with a certificate made in the test; the plain port still works", arguments: versions)
    func tls(version: String) async throws {
        let directory = try makeTemporaryDirectory("tb-tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try await runCommand("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let fixture = try await start([
            "MQTT_SSL_ENABLED": "true", "MQTT_SSL_PORT": "0",
            "MQTT_SSL_CERT_FILE": directory + "/cert.pem", "MQTT_SSL_KEY_FILE": directory + "/key.pem",
        ])
        let listening = try await fixture.gateway.waitForLog(message: "MQTT over TLS listening")
        let tlsPort = try #require(listening["port"] as? String)
        let device = try await fixture.addDevice("tls-\(version)")
        let secure = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", tlsPort, "--cafile", directory + "/cert.pem", "-u", device.token, "-V", version,
            "-t", "v1/devices/me/telemetry", "-m", #"{"secure":true}"#, "-q", "1",
        ])
        #expect(secure.status == 0, "\(secure.stderr)")
        // A client that does not trust the certificate is refused by its own TLS check.
        let untrusted = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", tlsPort, "--capath", "/nonexistent", "--cafile", "/etc/ssl/certs/ca-certificates.crt",
            "-u", device.token, "-V", version, "-t", "v1/devices/me/telemetry", "-m", #"{"secure":false}"#, "-q", "1",
        ])
        #expect(untrusted.status != 0)
        #expect(try await publish(fixture, token: device.token, message: #"{"plain":true}"#, qos: 1, version: version).status == 0)
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        #expect(records.filter { $0.payload.contains(#""values":{"secure":true}"#) }.count == 1)
        #expect(!records.contains { $0.payload.contains(#""secure":false"#) })
        #expect(records.filter { $0.payload.contains(#""values":{"plain":true}"#) }.count == 1)
        try await fixture.stop()
    }

    @Test("a TLS key that is not a key stops start-up with one line naming the variable")
    func tlsBadKey() async throws {
        let directory = try makeTemporaryDirectory("tb-tls-bad")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "not a key".write(toFile: directory + "/key.pem", atomically: true, encoding: .utf8)
        try "not a certificate".write(toFile: directory + "/cert.pem", atomically: true, encoding: .utf8)
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded")
        environment.merge(["MQTT_SSL_ENABLED": "true", "MQTT_SSL_CERT_FILE": directory + "/cert.pem", "MQTT_SSL_KEY_FILE": directory + "/key.pem"]) { $1 }
        let result = try await runCommand(GatewayProcess.binary, ["config", "check"], environment: environment, directory: directory)
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("MQTT_SSL_CERT_FILE"), "\(result.stderr)")
    }

    @Test("an unknown token is refused: return code 5 / reason 0x87", arguments: versions)
    func unknownToken(version: String) async throws {
        let fixture = try await start()
        let result = try await publish(fixture, token: "no-such-token", message: "{}", qos: 1, version: version)
        #expect(result.status != 0)
        #expect(result.stderr.lowercased().contains("not authori"), "\(result.stderr)")
        let metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
        #expect(metrics[#"tb_gateway_auth_failures_total{transport="mqtt"}"#] == 1)
        try await fixture.stop()
    }

    @Test("attribute request and response round trip (5.0, mosquitto_rr)")
    func attributeRequest5() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("attr-mqtt5")
        let upload = try await publish(
            fixture, token: device.token, topic: "v1/devices/me/attributes", message: #"{"fw":"2.1","on":true}"#,
            qos: 1, version: "mqttv5")
        #expect(upload.status == 0)
        let result = try await runCommand("mosquitto_rr", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-V", "mqttv5",
            "-t", "v1/devices/me/attributes/request/7", "-e", "v1/devices/me/attributes/response/7",
            "-m", #"{"clientKeys":"fw"}"#, "-W", "10",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"client":{"fw":"2.1"}}"#)
        try await fixture.stop()
    }

    @Test("attribute request and response round trip (3.1.1, mosquitto_sub and mosquitto_pub)")
    func attributeRequest311() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("attr-mqtt311")
        _ = try await fixture.post("/api/v1/\(device.token)/attributes", #"{"mode":"eco"}"#)
        // The response arrives on the subscribing connection, so one client
        // must subscribe and publish: mosquitto_sub cannot publish, hence the
        // request goes out on the same session through a raw script.
        let result = try await runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/mqtt_request.py",
            "127.0.0.1", "\(fixture.gateway.mqttPort)", device.token, #"{"clientKeys":"mode"}"#,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"v1/devices/me/attributes/response/1 {"client":{"mode":"eco"}}"#)
        try await fixture.stop()
    }

    @Test("MQTT_MAX_CONNECTIONS: the connection past the limit gets CONNACK 3 / 0x88", arguments: versions)
    func connectionLimit(version: String) async throws {
        let fixture = try await start(["MQTT_MAX_CONNECTIONS": "1"])
        let holder = try await fixture.addDevice("holder")
        let other = try await fixture.addDevice("other")
        // Held for 6 s, then stopped by runCommand's time-out (mosquitto_sub's
        // own -W relies on SIGALRM, which a child of the test runner may have blocked).
        let first = Task {
            try await runCommand("mosquitto_sub", [
                "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", holder.token, "-V", version,
                "-t", "v1/devices/me/attributes",
            ], timeout: .seconds(6))
        }
        #expect(try await eventually { fixture.gateway.logs.contains { $0["message"] as? String == "MQTT device connected" } })
        // mosquitto_pub retries a refused CONNECT by itself, so it is stopped after 5 s.
        let refused = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", other.token, "-V", version,
            "-t", "v1/devices/me/telemetry", "-m", #"{"a":1}"#, "-q", "1",
        ], timeout: .seconds(5))
        #expect(refused.status != 0)
        #expect(refused.stderr.lowercased().contains("unavailable"), "\(refused.stderr)")
        _ = try await first.value
        // The slot is free again once the first connection ended.
        #expect(try await eventually { try await publish(fixture, token: other.token, message: #"{"a":2}"#, qos: 1, version: version).status == 0 })
        try await fixture.stop()
    }

    @Test("a payload over MAX_PAYLOAD_SIZE closes that connection and is counted; the device can go on", arguments: versions)
    func payloadLimit(version: String) async throws {
        let fixture = try await start(["MAX_PAYLOAD_SIZE": "1000"])
        let device = try await fixture.addDevice("big-\(version)")
        let big = #"{"blob":""# + String(repeating: "z", count: 2000) + #""}"#
        // QoS 0, so mosquitto_pub does not wait for (or retry) an answer; the
        // server closes the connection on reading the oversize PUBLISH.
        _ = try await publish(fixture, token: device.token, message: big, qos: 0, version: version)
        #expect(try await eventually {
            parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)[
                #"tb_gateway_messages_dropped_total{reason="payload_too_large"}"#] == 1
        })
        #expect(fixture.gateway.logs.contains { $0["message"] as? String == "MQTT payload over MAX_PAYLOAD_SIZE; closing" }
            || fixture.gateway.logs.contains { ($0["message"] as? String)?.hasPrefix("MQTT protocol error") == true })
        #expect(try await publish(fixture, token: device.token, message: #"{"small":1}"#, qos: 1, version: version).status == 0)
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        #expect(records.count == 1 && records[0].payload.contains(#""small":1"#))
        try await fixture.stop()
    }

    @Test("a subscription outside the device API is refused with 0x80", arguments: versions)
    func badSubscription(version: String) async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("sub-bad")
        // mosquitto_sub reports a SUBACK whose every code is a failure (0x80).
        let result = try await runCommand("mosquitto_sub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-V", version,
            "-t", "some/other/topic", "-C", "1", "-W", "3",
        ])
        #expect((result.stdout + result.stderr).contains("All subscription requests were denied"), "\(result.stdout) \(result.stderr)")
        try await fixture.stop()
    }

    @Test("a shared attribute written through the admin API reaches a subscribed device", arguments: versions)
    func sharedAttributePush(version: String) async throws {
        let key = "admin-key-for-mqtt-tests"
        let fixture = try await start(["ADMIN_API_KEY": key])
        let device = try await fixture.addDevice("push-\(version)")
        let subscriber = Task {
            try await runCommand("mosquitto_sub", [
                "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-V", version,
                "-t", "v1/devices/me/attributes", "-q", "1", "-C", "2", "-W", "20",
            ])
        }
        #expect(try await eventually { fixture.gateway.logs.contains { $0["message"] as? String == "MQTT device connected" } })
        try await Task.sleep(for: .milliseconds(300))
        let headers = ["Authorization": "Bearer \(key)"]
        let base = fixture.gateway.adminURL + "/api/devices/\(device.id)/attributes/shared"
        #expect(try await curl("POST", base, body: #"{"interval":30}"#, headers: headers).status == 200)
        #expect(try await curl("DELETE", base + "?keys=interval", headers: headers).status == 200)
        let result = try await subscriber.value
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n") == [#"{"interval":30}"#, #"{"deleted":["interval"]}"#])
        try await fixture.stop()
    }

    @Test("a second connection for the same device takes over the first (5.0: mosquitto_sub gets DISCONNECT 0x8E)")
    func takeover() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("takeover-1")
        let first = Task {
            try await runCommand("mosquitto_sub", [
                "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-i", "first", "-V", "mqttv5",
                "-t", "v1/devices/me/attributes", "-W", "20",
            ])
        }
        #expect(try await eventually { fixture.gateway.logs.contains { $0["message"] as? String == "MQTT device connected" } })
        let started = ContinuousClock.now
        let second = try await publish(fixture, token: device.token, message: #"{"a":1}"#, qos: 1, version: "mqttv5")
        #expect(second.status == 0)
        _ = try await first.value
        // mosquitto_sub ends when the server disconnects it, long before its 20 s timer.
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(fixture.gateway.logs.contains { $0["message"] as? String == "MQTT session taken over by a new connection" })
        #expect(try await eventually {
            (try await readTopic("tb.events", bootstrap: fixture.kafka.bootstrapServers)).contains {
                $0.payload.contains(#""reason":"takeover""#)
            }
        })
        try await fixture.stop()
    }

    @Test("takeover on both protocol levels, seen from a raw first session", arguments: ["4", "5"])
    func takeoverRaw(level: String) async throws {
        // mosquitto_sub reconnects by itself after a 3.1.1 close (3.1.1 has no
        // DISCONNECT from the server), so the first session here is a raw socket.
        let fixture = try await start()
        let device = try await fixture.addDevice("takeover-raw-\(level)")
        let result = try await runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/raw_mqtt.py", "takeover", "127.0.0.1",
            "\(fixture.gateway.mqttPort)", device.token, level,
        ])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "taken over", "\(result.stderr)")
        try await fixture.stop()
    }

    @Test("1,000 concurrent connections from one process, each publishing: every record in Kafka")
    func thousandConnections() async throws {
        let fixture = try await start()
        let names = (0..<1000).map { "many-\($0)" }.joined(separator: "\n")
        let imported = try await runCommand(
            GatewayProcess.binary, ["device", "import", "-"], environment: fixture.gateway.environment,
            directory: fixture.gateway.directory, input: Data(names.utf8))
        #expect(imported.status == 0, "\(imported.stderr)")
        let tokens = imported.stdout.split(separator: "\n").map { $0.split(separator: ",")[1] }.joined(separator: "\n")
        let tokensFile = fixture.directory + "/tokens.txt"
        try tokens.write(toFile: tokensFile, atomically: true, encoding: .utf8)
        let result = try await runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/mqtt_many.py", "127.0.0.1", "\(fixture.gateway.mqttPort)", tokensFile,
        ])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "connected=1000 acked=1000 errors=0", "\(result.stderr)")
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        let indices = Set(records.compactMap { ((($0.json["values"] as? [String: Any])?["index"]) as? NSNumber)?.intValue })
        #expect(records.count == 1000)
        #expect(indices == Set(0..<1000))
        try await fixture.stop()
    }

    @Test("keep-alive: a silent client is disconnected after 1.5 × its keep-alive", arguments: ["4", "5"])
    func keepAlive(level: String) async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("silent")
        let result = try await runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/raw_mqtt.py", "keepalive", "127.0.0.1",
            "\(fixture.gateway.mqttPort)", device.token, level,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let seconds = Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(seconds >= 1.4 && seconds < 5, "closed after \(seconds) s")
        #expect(try await eventually {
            (try await readTopic("tb.events", bootstrap: fixture.kafka.bootstrapServers)).contains {
                $0.payload.contains(#""reason":"keep_alive_timeout""#)
            }
        })
        try await fixture.stop()
    }

    @Test("a socket that sends no CONNECT is closed after 10 s (MQTT-3.1.4); a client meanwhile connects and publishes")
    func connectDeadline() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("punctual")
        async let silent = runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/raw_mqtt.py", "silent", "127.0.0.1", "\(fixture.gateway.mqttPort)",
        ])
        // Both deadlines live in one sweeper per event loop: the new
        // connection's must not disturb the silent one's.
        try await Task.sleep(for: .seconds(1))
        let published = try await runCommand("mosquitto_pub", [
            "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", device.token, "-q", "1",
            "-t", "v1/devices/me/telemetry", "-m", #"{"punctual":1}"#,
        ])
        #expect(published.status == 0, "\(published.stderr)")
        let result = try await silent
        let seconds = Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(seconds >= 9.9 && seconds < 12, "closed after \(seconds) s: \(result.stderr)")
        try await fixture.stop()
    }

    @Test("garbage bytes close that connection; other clients keep working")
    func garbage() async throws {
        let fixture = try await start()
        let device = try await fixture.addDevice("bystander")
        let result = try await runCommand("python3", [
            packageRoot() + "/Tests/IntegrationTests/Scripts/raw_mqtt.py", "garbage", "127.0.0.1", "\(fixture.gateway.mqttPort)",
        ])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "closed")
        #expect(try await publish(fixture, token: device.token, message: #"{"ok":1}"#, qos: 1, version: "mqttv311").status == 0)
        #expect(fixture.gateway.isRunning)
        try await fixture.stop()
    }

    @Test("QoS 1 while the Kafka broker is down: no PUBACK until it is back, then exactly once")
    func brokerDown() async throws {
        let fixture = try await start(["KAFKA_DELIVERY_TIMEOUT": "60"])
        let device = try await fixture.addDevice("outage-mqtt")
        #expect(try await publish(fixture, token: device.token, message: #"{"seq":0}"#, qos: 1, version: "mqttv5").status == 0)
        // One device per connection: a second connection of a device would take over the first.
        var tokens: [String] = []
        for seq in 1...3 { tokens.append(try await fixture.addDevice("outage-mqtt-\(seq)").token) }
        fixture.kafka.setBrokerDown()
        let pending = (1...3).map { seq in
            Task { [tokens] () -> (CommandResult, ContinuousClock.Instant) in
                let result = try await runCommand("mosquitto_pub", [
                    "-h", "127.0.0.1", "-p", "\(fixture.gateway.mqttPort)", "-u", tokens[seq - 1], "-i", "p\(seq)",
                    "-t", "v1/devices/me/telemetry", "-m", #"{"seq":\#(seq)}"#, "-q", "1", "-V", seq == 2 ? "mqttv311" : "mqttv5",
                ])
                // mosquitto_pub exits right after its PUBACK.
                return (result, ContinuousClock.now)
            }
        }
        try await Task.sleep(for: .seconds(3))
        // No PUBACK yet: every publisher is still waiting.
        let metrics = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
        #expect(metrics[#"tb_gateway_messages_received_total{transport="mqtt"}"#] == 4)
        let confirmedBefore = metrics[#"tb_gateway_messages_sent_total{sink="kafka"}"#] ?? 0
        try await Task.sleep(for: .seconds(1))
        let stillWaiting = parseMetrics(try await curl("GET", fixture.gateway.metricsURL + "/metrics").body)
        #expect(stillWaiting[#"tb_gateway_messages_sent_total{sink="kafka"}"#] == confirmedBefore, "nothing confirmed while down")
        let upAt = ContinuousClock.now
        fixture.kafka.setBrokerUp()
        for task in pending {
            let (result, finishedAt) = try await task.value
            #expect(result.status == 0, "\(result.stderr)")
            #expect(finishedAt > upAt, "PUBACK only after the broker came back")
        }
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        var counts: [Int: Int] = [:]
        for record in records {
            if let seq = ((record.json["values"] as? [String: Any])?["seq"] as? NSNumber)?.intValue { counts[seq, default: 0] += 1 }
        }
        #expect(counts == [0: 1, 1: 1, 2: 1, 3: 1])
        try await fixture.stop()
    }
}
