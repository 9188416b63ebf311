import Foundation
import Synchronization

/// The real `tb-gateway` executable, started as a subprocess in its own
/// working directory (so no `.env` of the developer's leaks in), with JSON
/// logs read back line by line.
package final class GatewayProcess: @unchecked Sendable {
    // @unchecked: `process` is configured before `run()` and afterwards only
    // signalled and waited on; the log lines sit behind a Mutex.
    private let process = Process()
    private let collector = LineCollector()
    package let directory: String
    package let environment: [String: String]
    package private(set) var httpPort = 0
    package private(set) var metricsPort = 0
    package private(set) var adminPort = 0
    package private(set) var mqttPort = 0
    package private(set) var coapPort = 0
    package private(set) var lwm2mPort = 0

    /// The built executable: beside the test bundle (both in .build/debug),
    /// or TB_GATEWAY_BINARY.
    package static var binary: String {
        if let path = ProcessInfo.processInfo.environment["TB_GATEWAY_BINARY"] { return path }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // The .xctest bundle may be a directory on some platforms.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("tb-gateway").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("tb-gateway").path
    }

    /// The environment every test gateway gets: loopback, free ports, JSON
    /// logs, a data directory of its own.
    package static func baseEnvironment(directory: String, kafka: String) -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "DATA_DIR": directory + "/data",
            "HTTP_BIND_ADDRESS": "127.0.0.1",
            "HTTP_BIND_PORT": "0",
            "METRICS_BIND_ADDRESS": "127.0.0.1",
            "METRICS_PORT": "0",
            "ADMIN_BIND_ADDRESS": "127.0.0.1",
            "ADMIN_BIND_PORT": "0",
            "MQTT_ENABLED": "false",
            "MQTT_BIND_ADDRESS": "127.0.0.1",
            "MQTT_BIND_PORT": "0",
            "COAP_ENABLED": "false",
            "COAP_BIND_ADDRESS": "127.0.0.1",
            "COAP_BIND_PORT": "0",
            "LWM2M_ENABLED": "false",
            "LWM2M_BIND_ADDRESS": "127.0.0.1",
            "LWM2M_BIND_PORT": "0",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
        ]
    }

    package init(directory: String, environment: [String: String]) {
        self.directory = directory
        self.environment = environment
    }

    /// Starts the gateway and waits until both listeners are up.
    package func start(timeout: Duration = .seconds(30)) async throws {
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["run"]
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        out.fileHandleForReading.readabilityHandler = { [collector] handle in
            collector.append(handle.availableData)
        }
        try process.run()
        if let port = environment["HTTP_BIND_PORT"].flatMap(Int.init), port != 0,
            let metrics = environment["METRICS_PORT"].flatMap(Int.init), metrics != 0
        {
            // Fixed ports: poll /health instead of reading log lines.
            httpPort = port
            metricsPort = metrics
            let deadline = ContinuousClock.now + timeout
            while (try? await curl("GET", metricsURL + "/health"))?.status != 200 {
                guard ContinuousClock.now < deadline, process.isRunning else {
                    throw TestFailure("gateway did not become healthy:\n" + rawLogs.joined(separator: "\n"))
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return
        }
        let http = try await waitForLog(message: "HTTP device API listening", timeout: timeout)
        httpPort = Int(http["port"] as? String ?? "") ?? 0
        let metrics = try await waitForLog(message: "metrics listening", timeout: timeout)
        metricsPort = Int(metrics["port"] as? String ?? "") ?? 0
        if environment["MQTT_ENABLED"] == "true" {
            let mqtt = try await waitForLog(message: "MQTT listening", timeout: timeout)
            mqttPort = Int(mqtt["port"] as? String ?? "") ?? 0
        }
        if environment["COAP_ENABLED"] == "true" {
            let coap = try await waitForLog(message: "CoAP device API listening", timeout: timeout)
            coapPort = Int(coap["port"] as? String ?? "") ?? 0
        }
        if environment["LWM2M_ENABLED"] == "true" {
            let lwm2m = try await waitForLog(message: "LwM2M server listening", timeout: timeout)
            lwm2mPort = Int(lwm2m["port"] as? String ?? "") ?? 0
        }
        if let key = environment["ADMIN_API_KEY"], !key.isEmpty {
            let admin = try await waitForLog(message: "admin API listening", timeout: timeout)
            adminPort = Int(admin["port"] as? String ?? "") ?? 0
        }
    }

    /// Every log line so far, parsed.
    package var logs: [[String: Any]] {
        collector.lines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    package var rawLogs: [String] { collector.lines }

    /// Waits for a log record whose message starts with `message`.
    @discardableResult
    package func waitForLog(message: String, timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let record = logs.first(where: { ($0["message"] as? String)?.hasPrefix(message) == true }) {
                return record
            }
            if !process.isRunning {
                throw TestFailure("gateway exited (\(process.terminationStatus)) before logging '\(message)':\n" + rawLogs.joined(separator: "\n"))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("gateway did not log '\(message)' in time:\n" + rawLogs.joined(separator: "\n"))
    }

    package var baseURL: String { "http://127.0.0.1:\(httpPort)" }
    package var metricsURL: String { "http://127.0.0.1:\(metricsPort)" }
    package var adminURL: String { "http://127.0.0.1:\(adminPort)" }

    package var isRunning: Bool { process.isRunning }

    /// The gateway's resident set (VmRSS in /proc), in KiB.
    package var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// Sends SIGTERM and waits for the exit status.
    package func terminate(timeout: Duration = .seconds(30)) async throws -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        return try await waitForExit(timeout: timeout)
    }

    /// SIGKILL: a crash, with no shutdown at all.
    package func crash() async throws {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = try await waitForExit(timeout: .seconds(10))
    }

    package func waitForExit(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TestFailure("gateway did not exit within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Runs a CLI command of the same binary with this gateway's environment.
    package func cli(_ arguments: [String]) async throws -> CommandResult {
        try await runCommand(Self.binary, arguments, environment: environment, directory: directory)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Splits a byte stream into lines as it arrives.
final class LineCollector: Sendable {
    private let state = Mutex<(pending: Data, lines: [String])>((Data(), []))

    func append(_ data: Data) {
        guard !data.isEmpty else { return }
        state.withLock { state in
            state.pending.append(data)
            guard let last = state.pending.lastIndex(of: 0x0A) else { return }
            let text = String(decoding: state.pending[state.pending.startIndex...last], as: UTF8.self)
            state.pending.removeSubrange(state.pending.startIndex...last)
            state.lines.append(contentsOf: text.split(separator: "\n").map(String.init))
        }
    }

    var lines: [String] { state.withLock { $0.lines } }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
package func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(descriptor, raw, length) == 0 && getsockname(descriptor, raw, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
