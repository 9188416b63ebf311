import Foundation
import Synchronization

/// A long-running test peer (a Python script playing a server) that is
/// driven by JSON lines on its stdin and reports JSON lines on stdout,
/// read as they come so a test can wait for one with a bound.
package final class PeerProcess: @unchecked Sendable {
    // @unchecked: `process` and `input` are set up before `start()` returns
    // and afterwards only written to, signalled and waited on; the lines sit
    // behind the collector's Mutex.
    private let process = Process()
    private let input = Pipe()
    private let collector = LineCollector()
    private let errors = LineCollector()

    package init(_ executable: String, _ arguments: [String]) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    }

    package func start() throws {
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        for (pipe, collector) in [(out, collector), (err, errors)] {
            // Its own thread: a blocked reader on Linux's dispatch queues would stall other work.
            let reader = Thread {
                let handle = pipe.fileHandleForReading
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    collector.append(data)
                }
            }
            reader.start()
        }
        try process.run()
    }

    /// Every stdout line that is a JSON object, parsed, in order.
    package var events: [[String: any Sendable]] {
        collector.lines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: any Sendable]
        }
    }

    package var standardError: String { errors.lines.joined(separator: "\n") }

    /// Every stdout line so far.
    package var lines: [String] { collector.lines }

    /// Waits up to `timeout` for a stdout line that matches.
    @discardableResult
    package func waitForLine(timeout: Duration = .seconds(20), _ description: String, _ matches: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = collector.lines.first(where: matches) { return line }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("no \(description) within \(timeout); got \(collector.lines.suffix(20)) \(standardError.suffix(2000))")
    }

    /// Writes one command line.
    package func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// The first event (counting from `after`) that matches, waiting up to `timeout`.
    @discardableResult
    package func waitFor(
        after: Int = 0,
        timeout: Duration = .seconds(20),
        _ description: String,
        _ matches: ([String: any Sendable]) -> Bool
    ) async throws -> [String: any Sendable] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = events.dropFirst(after).first(where: matches) { return event }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("no \(description) within \(timeout); got \(collector.lines.suffix(20)) \(standardError.suffix(2000))")
    }

    /// Closes stdin (the peer exits), then kills what is left after a moment.
    package func stop() async {
        try? input.fileHandleForWriting.close()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
