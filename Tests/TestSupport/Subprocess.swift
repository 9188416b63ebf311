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
///
/// Spawned with posix_spawn, not Foundation's `Process`: `Process.run()`
/// crashed the whole test binary twice in CI (a `memmove` past the end of a
/// buffer inside `run()`, once while readers were on its pipes and once
/// with none), and this function starts hundreds of commands per run.
package func runCommand(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    directory: String? = nil,
    input: Data? = nil,
    timeout: Duration = .seconds(90)
) async throws -> CommandResult {
    let path = executable.hasPrefix("/") ? executable : try which(executable)
    let child = try SpawnedCommand(
        path: path, arguments: arguments, environment: environment ?? ProcessInfo.processInfo.environment, directory: directory)
    // Each stream is read to its end on a thread of its own, and the result
    // waits for both readers as well as for the exit: the last bytes of a
    // command that prints and exits at once (mosquitto_sub -C 1) are read
    // before the result is taken. Threads, not a dispatch queue: Linux's
    // global queues run about one thread per core, and blocked readers
    // there would stall every other reader and time-out of the suite.
    let collected = CollectedOutput()
    let readers = DispatchGroup()
    for (descriptor, isError) in [(child.stdout, false), (child.stderr, true)] {
        readers.enter()
        Thread {
            readToEnd(descriptor) { collected.append($0, error: isError) }
            close(descriptor)
            readers.leave()
        }.start()
    }
    Thread {
        if let input { writeAll(child.stdin, input) }
        close(child.stdin)
    }.start()
    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) {
        child.killIfRunning()
    }
    let status: Int32 = await withCheckedContinuation { continuation in
        Thread {
            let status = child.waitForExit()
            readers.notify(queue: .global()) { continuation.resume(returning: status) }
        }.start()
    }
    let (stdout, stderr) = collected.text
    return CommandResult(status: status, stdout: stdout, stderr: stderr)
}

/// A child started with posix_spawn: its pipes' parent ends and its exit.
final class SpawnedCommand: Sendable {
    let pid: pid_t
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32
    /// Set once the child has exited, before it is reaped: until then its
    /// pid cannot belong to another process, so the watchdog may kill it.
    private let exited = Mutex(false)

    init(path: String, arguments: [String], environment: [String: String], directory: String?) throws {
        // A child whose reader went away gets EPIPE, not this process SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        var pipes: [(read: Int32, write: Int32)] = []
        for _ in 0..<3 {
            var ends: [Int32] = [-1, -1]
            // pipe2 is _GNU_SOURCE only. Children spawned here close what
            // is above stderr anyway; close-on-exec covers Foundation's.
            guard pipe(&ends) == 0 else {
                for pipe in pipes { close(pipe.read); close(pipe.write) }
                throw TestFailure("pipe: errno \(errno)")
            }
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            pipes.append((ends[0], ends[1]))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child's ends become 0, 1 and 2 (dup2 clears close-on-exec).
        posix_spawn_file_actions_adddup2(&actions, pipes[0].read, 0)
        posix_spawn_file_actions_adddup2(&actions, pipes[1].write, 1)
        posix_spawn_file_actions_adddup2(&actions, pipes[2].write, 2)
        // Nothing else of this process's (sockets, other children's pipes) goes along.
        if let closeFrom = SpawnFunctions.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let directory {
            guard let addChangeDirectory = SpawnFunctions.addChangeDirectory else { throw TestFailure("no posix_spawn chdir") }
            _ = directory.withCString { addChangeDirectory(&actions, $0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default dispositions (SIGPIPE is ignored here) and no blocked signals.
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(pipes[0].read)
        close(pipes[1].write)
        close(pipes[2].write)
        guard result == 0 else {
            close(pipes[0].write)
            close(pipes[1].read)
            close(pipes[2].read)
            throw TestFailure("posix_spawn \(path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        (stdin, stdout, stderr) = (pipes[0].write, pipes[1].read, pipes[2].read)
    }

    /// Blocks until the child exits; its exit code, or the number of the
    /// signal that ended it (as Foundation's `terminationStatus`).
    func waitForExit() -> Int32 {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
        exited.withLock { $0 = true }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    func killIfRunning() {
        exited.withLock { if !$0 { kill(pid, SIGKILL) } }
    }
}

/// glibc's posix_spawn extensions, which its headers declare only for
/// _GNU_SOURCE: `addclosefrom_np` (2.34) and `addchdir_np` (2.29).
private enum SpawnFunctions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    static let addCloseFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChangeDirectory: ChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}

/// Writes all of `data` to a descriptor (a child's standard input).
private func writeAll(_ descriptor: Int32, _ data: Data) {
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
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
