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
    // Each stream is read to its end on a thread of its own, and the result
    // waits for both readers as well as for the exit: with readability
    // handlers the last bytes of a command that prints and exits at once
    // (mosquitto_sub -C 1) could still be in a handler when the result was
    // taken, and were lost. The readers use the raw descriptors and start
    // only after `run()` returned: Foundation's Process.run touches the
    // pipes' FileHandles, and a reader inside one of them at that moment
    // crashed it once (memmove in Process.run, CI).
    let collected = CollectedOutput()
    let readers = DispatchGroup()
    let streams = [(out.fileHandleForReading.fileDescriptor, false), (err.fileHandleForReading.fileDescriptor, true)]
    for _ in streams { readers.enter() }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { process in
            let status = process.terminationStatus
            readers.notify(queue: .global()) { continuation.resume(returning: status) }
        }
        do {
            try process.run()
            for (descriptor, isError) in streams {
                // Threads, not a dispatch queue: Linux's global queues run
                // about one thread per core, and blocked readers there
                // would stall every other reader and time-out of the suite.
                Thread {
                    readToEnd(descriptor) { collected.append($0, error: isError) }
                    readers.leave()
                }.start()
            }
            if let input { inputPipe.fileHandleForWriting.write(input) }
            try? inputPipe.fileHandleForWriting.close()
            let watchdog = ProcessWatchdog(process)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) {
                watchdog.killIfRunning()
            }
        } catch {
            for _ in streams { readers.leave() }
            continuation.resume(throwing: error)
        }
    }
    // The pipes (and their descriptors) live until the readers are done.
    withExtendedLifetime((out, err)) {}
    let (stdout, stderr) = collected.text
    return CommandResult(status: status, stdout: stdout, stderr: stderr)
}

/// Reads a descriptor until end of file (or an error other than EINTR).
private func readToEnd(_ descriptor: Int32, _ chunk: (Data) -> Void) {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            chunk(Data(buffer[0..<count]))
        } else if count == 0 || errno != EINTR {
            return
        }
    }
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
