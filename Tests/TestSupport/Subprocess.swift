import Dispatch
import Foundation
import Synchronization

/// The result of a finished command.
package struct CommandResult: Sendable {
    package let status: Int32
    package let stdout: String
    package let stderr: String
}

/// Runs a command to completion without blocking a cooperative thread. A
/// command still running after `timeout` is killed, so a stuck peer fails
/// its test instead of hanging the suite.
package func runCommand(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    directory: String? = nil,
    input: Data? = nil,
    timeout: Duration = .seconds(90)
) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try which(executable))
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inputPipe = Pipe()
    process.standardInput = inputPipe
    let collected = CollectedOutput()
    out.fileHandleForReading.readabilityHandler = { handle in collected.append(handle.availableData, error: false) }
    err.fileHandleForReading.readabilityHandler = { handle in collected.append(handle.availableData, error: true) }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
        do {
            try process.run()
            if let input { inputPipe.fileHandleForWriting.write(input) }
            try? inputPipe.fileHandleForWriting.close()
            let watchdog = ProcessWatchdog(process)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) {
                watchdog.killIfRunning()
            }
        } catch {
            continuation.resume(throwing: error)
        }
    }
    out.fileHandleForReading.readabilityHandler = nil
    err.fileHandleForReading.readabilityHandler = nil
    // Whatever arrived after the last handler call.
    collected.append(out.fileHandleForReading.readDataToEndOfFile(), error: false)
    collected.append(err.fileHandleForReading.readDataToEndOfFile(), error: true)
    let (stdout, stderr) = collected.text
    return CommandResult(status: status, stdout: stdout, stderr: stderr)
}

/// The absolute path of a program on PATH.
package func which(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw TestFailure("\(name) is not installed (make test installs it)")
}

package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

final class CollectedOutput: Sendable {
    private let state = Mutex<(Data, Data)>((Data(), Data()))

    func append(_ data: Data, error: Bool) {
        guard !data.isEmpty else { return }
        state.withLock { if error { $0.1.append(data) } else { $0.0.append(data) } }
    }

    var text: (String, String) {
        state.withLock { (String(decoding: $0.0, as: UTF8.self), String(decoding: $0.1, as: UTF8.self)) }
    }
}

/// A fresh directory under the system's temporary directory.
package func makeTemporaryDirectory(_ prefix: String = "tb-gateway-test") throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Kills a command that outlived its time-out.
final class ProcessWatchdog: @unchecked Sendable {
    // @unchecked: Process is only asked whether it runs and told to stop,
    // both safe from any thread.
    private let process: Process
    init(_ process: Process) { self.process = process }
    func killIfRunning() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
