import Foundation

/// A real Mosquitto broker (Debian's `mosquitto`) on a free loopback port,
/// for the MQTT bridge's tests; it can be stopped and started again on the
/// same port.
package final class MosquittoBroker: @unchecked Sendable {
    // @unchecked: start and stop are called from one test at a time.
    package let port: Int
    private let directory: String
    private var process: Process?

    package init() throws {
        port = try freePort()
        directory = try makeTemporaryDirectory("mosquitto")
        // No persistence: a restart is a broker that forgot every session.
        // The offline queue of a persistent session is raised from 1,000.
        let configuration = """
            listener \(port) 127.0.0.1
            allow_anonymous true
            persistence false
            max_queued_messages 100000
            log_dest stderr
            """
        try configuration.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
    }

    package static var executable: String {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : ((try? which("mosquitto")) ?? "mosquitto")
    }

    package func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["-c", directory + "/mosquitto.conf"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(10)
        while !canConnect(port: port) {
            guard ContinuousClock.now < deadline, process.isRunning else { throw TestFailure("mosquitto did not listen on \(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    package func stop() async {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        self.process = nil
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:port now.
package func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
