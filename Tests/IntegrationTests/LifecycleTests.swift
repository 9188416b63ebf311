import Foundation
import KafkaSink
import TestSupport
import Testing

@Suite("Start-up configuration and shutdown", .timeLimit(.minutes(3)))
struct LifecycleTests {
    static let invalid: [(String, String)] = [
        ("HTTP_BIND_PORT", "abc"),
        ("HTTP_BIND_PORT", "70000"),
        ("BATCH_SIZE", "0"),
        ("LOG_LEVEL", "loud"),
        ("TB_PROTOCOL", "ftp"),
        ("BATCH_TIMEOUT", "-1"),
        ("KAFKA_ENABLED", "maybe"),
        ("KAFKA_BOOTSTRAP_SERVERS", "no-port"),
        ("KAFKA_COMPRESSION", "brotli"),
        ("MAX_PAYLOAD_SIZE", "1k"),
        ("MQTT_BRIDGE_URL", "tcp://broker:1883"),
        ("MQTT_BRIDGE_MAX_IN_HAND", "0"),
        ("LWM2M_CLIENT_SERVER_URI", "coaps://server:5684"),
        ("LWM2M_CLIENT_VERSION", "1.2"),
        ("LWM2M_CLIENT_MAPPING", "../mapping.json"),
    ]

    @Test("an invalid value stops start-up with status 2 and one line naming it", arguments: invalid)
    func invalidValue(variable: String, value: String) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded")
        environment[variable] = value
        for arguments in [["run"], ["config", "check"]] {
            let result = try await runCommand(GatewayProcess.binary, arguments, environment: environment, directory: directory)
            #expect(result.status == 2)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(variable) && result.stderr.contains("'\(value)'") && result.stderr.contains("expected"))
        }
    }

    @Test("a port in use stops the gateway: the other services shut down, one critical line names the error, exit status 1")
    func portInUse() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Something else holds the metrics port.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("0.0.0.0")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let port = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int in
                guard bind(holder, raw, length) == 0, listen(holder, 1) == 0, getsockname(holder, raw, &length) == 0 else { return 0 }
                return Int(UInt16(bigEndian: pointer.pointee.sin_port))
            }
        }
        try #require(port > 0)
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded")
        environment["METRICS_PORT"] = "\(port)"
        let result = try await runCommand(GatewayProcess.binary, ["run"], environment: environment, directory: directory, timeout: .seconds(60))
        #expect(result.status == 1, "\(result.stdout.suffix(2000))")
        #expect(result.stdout.contains("tb-gateway stopped on an error") && result.stdout.contains("Address already in use"), "\(result.stdout.suffix(2000))")
    }

    /// A second gateway given a port the first one serves: it exits 1 with
    /// one critical line naming the error.
    private func expectSecondGatewayRefused(_ variables: [String: String]) async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded")
        environment.merge(variables) { $1 }
        let result = try await runCommand(GatewayProcess.binary, ["run"], environment: environment, directory: directory, timeout: .seconds(60))
        #expect(result.status == 1, "\(result.stdout.suffix(2000))")
        #expect(result.stdout.contains("tb-gateway stopped on an error") && result.stdout.contains("Address already in use"), "\(result.stdout.suffix(2000))")
    }

    @Test("a CoAP port another gateway serves stops the second one (UDP: no silent sharing of the port)")
    func coapPortInUse() async throws {
        let first = try await GatewayFixture.start(["COAP_ENABLED": "true"])
        try await expectSecondGatewayRefused(["COAP_ENABLED": "true", "COAP_BIND_PORT": "\(first.gateway.coapPort)"])
        try await first.stop()
    }

    @Test("an MQTT port another gateway serves stops the second one (a listener per event loop: no silent sharing of the port)")
    func mqttPortInUse() async throws {
        let first = try await GatewayFixture.start(["MQTT_ENABLED": "true"])
        let device = try await first.addDevice("port-holder-1")
        try await expectSecondGatewayRefused(["MQTT_ENABLED": "true", "MQTT_BIND_PORT": "\(first.gateway.mqttPort)"])
        // The first gateway still serves: connections from several source
        // ports reach its listeners (one per event loop) and are all taken.
        for n in 1...8 {
            let published = try await runCommand(
                "mosquitto_pub",
                ["-h", "127.0.0.1", "-p", "\(first.gateway.mqttPort)", "-u", device.token, "-t", "v1/devices/me/telemetry", "-q", "1", "-m", #"{"n":\#(n)}"#],
                timeout: .seconds(20))
            #expect(published.status == 0, "\(published.stderr)")
        }
        let metrics = try await curl("GET", first.gateway.metricsURL + "/metrics").body
        #expect(metrics.contains(#"tb_gateway_messages_received_total{transport="mqtt"} 8"#), "\(metrics)")
        try await first.stop()
    }

    @Test(".env is read, the environment wins, and config check masks secrets")
    func dotEnv() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            # comment
            BATCH_SIZE=42
            export HTTP_BIND_PORT="9999"
            ADMIN_API_KEY=super-secret
            GATEWAY_ACCESS_TOKEN='also-secret'
            """.write(toFile: directory + "/.env", atomically: true, encoding: .utf8)
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded")
        environment["HTTP_BIND_PORT"] = nil
        environment["BATCH_SIZE"] = "7"
        let result = try await runCommand(GatewayProcess.binary, ["config", "check"], environment: environment, directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(lines.contains("BATCH_SIZE=7"))
        #expect(lines.contains("HTTP_BIND_PORT=9999"))
        #expect(lines.contains("ADMIN_API_KEY=********"))
        #expect(lines.contains("GATEWAY_ACCESS_TOKEN=********"))
        #expect(lines.contains("KAFKA_TOPIC_TELEMETRY=tb.telemetry"))
        #expect(!result.stdout.contains("secret"))
    }

    @Test(".env.example lists every variable the gateway reads, with its default")
    func envExample() async throws {
        let generated = try await runCommand(GatewayProcess.binary, ["config", "env-example"])
        let committed = try String(contentsOfFile: packageRoot() + "/.env.example", encoding: .utf8)
        #expect(generated.stdout == committed, "regenerate with: tb-gateway config env-example > .env.example")
    }

    @Test("SIGTERM under load: exit 0, and every 200 is in Kafka")
    func gracefulShutdown() async throws {
        let fixture = try await GatewayFixture.start(["SHUTDOWN_TIMEOUT": "5"])
        let device = try await fixture.addDevice("shutdown-1")
        let path = "/api/v1/\(device.token)/telemetry"
        let url = fixture.gateway.baseURL + path
        // Four concurrent senders; SIGTERM lands in the middle.
        let answers = try await withThrowingTaskGroup(of: [(Int, Int)].self) { group in
            for sender in 0..<4 {
                group.addTask {
                    var results: [(Int, Int)] = []
                    for index in 0..<40 {
                        let seq = sender * 1000 + index
                        let status = (try? await curl("POST", url, body: #"{"seq":\#(seq)}"#).status) ?? 0
                        results.append((seq, status))
                    }
                    return results
                }
            }
            try await Task.sleep(for: .milliseconds(400))
            let status = try await fixture.gateway.terminate()
            #expect(status == 0)
            var all: [(Int, Int)] = []
            for try await results in group { all += results }
            return all
        }
        let delivered = Set(answers.filter { $0.1 == 200 }.map(\.0))
        #expect(!delivered.isEmpty)
        let records = try await readTopic("tb.telemetry", bootstrap: fixture.kafka.bootstrapServers)
        var seen: [Int: Int] = [:]
        for record in records {
            if let seq = ((record.json["values"] as? [String: Any])?["seq"] as? NSNumber)?.intValue { seen[seq, default: 0] += 1 }
        }
        for seq in delivered { #expect(seen[seq] == 1, "seq \(seq)") }
        #expect(fixture.gateway.logs.contains { $0["message"] as? String == "tb-gateway stopped" })
        try? FileManager.default.removeItem(atPath: fixture.directory)
    }
}

/// The package root, from this file's path.
func packageRoot(file: String = #filePath) -> String {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
