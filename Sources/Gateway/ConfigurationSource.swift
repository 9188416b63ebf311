import Foundation
import Synchronization

/// Where configuration values come from: the process environment, then an
/// optional `.env` file in the working directory, then the defaults. The only
/// place the gateway reads its environment.
struct ConfigurationSource: Sendable {
    private let environment: [String: String]
    private let dotEnv: [String: String]
    /// Every variable read so far, so a test can prove that each one listed
    /// in `.env.example` is read by the code.
    let reads = ReadLog()

    final class ReadLog: Sendable {
        private let names = Mutex<Set<String>>([])
        func record(_ name: String) { _ = names.withLock { $0.insert(name) } }
        var all: Set<String> { names.withLock { $0 } }
    }

    init(environment: [String: String], dotEnv: [String: String] = [:]) {
        self.environment = environment
        self.dotEnv = dotEnv
    }

    /// The process environment and `./.env` (when present).
    static func process() throws -> ConfigurationSource {
        let path = FileManager.default.currentDirectoryPath + "/.env"
        var dotEnv: [String: String] = [:]
        if FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            dotEnv = try parseDotEnv(text)
        }
        return ConfigurationSource(environment: ProcessInfo.processInfo.environment, dotEnv: dotEnv)
    }

    /// The raw value, environment first; nil when set nowhere.
    func raw(_ name: String) -> String? {
        environment[name] ?? dotEnv[name]
    }

    /// The value with the variable's default applied; empty means unset.
    func value(_ name: String) -> String {
        // Reading a variable that .env.example does not list is a bug in
        // this program, never a consequence of outside input.
        precondition(ConfigurationVariables.named(name) != nil, "\(name) is not in ConfigurationVariables.all")
        reads.record(name)
        let value = raw(name)?.trimmingCharacters(in: .whitespaces)
        if let value, !value.isEmpty { return value }
        return ConfigurationVariables.named(name)?.defaultValue ?? ""
    }

    /// `KEY=VALUE` lines; `#` comments, blank lines, an optional `export `
    /// prefix and single or double quotes around the value.
    static func parseDotEnv(_ text: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError(variable: ".env line \(number + 1)", value: line, allowed: "KEY=VALUE")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            values[key] = value
        }
        return values
    }

    // MARK: Typed readers; each throws a ConfigurationError naming the variable.

    func string(_ name: String) -> String { value(name) }

    func optionalString(_ name: String) -> String? {
        let value = value(name)
        return value.isEmpty ? nil : value
    }

    func bool(_ name: String) throws(ConfigurationError) -> Bool {
        let value = value(name)
        switch value.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError(variable: name, value: value, allowed: "true or false")
        }
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let value = value(name)
        guard let number = Int(value), range.contains(number) else {
            throw ConfigurationError(
                variable: name, value: value,
                allowed: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func port(_ name: String) throws(ConfigurationError) -> Int {
        let value = value(name)
        guard let number = Int(value), (0...65535).contains(number) else {
            throw ConfigurationError(variable: name, value: value, allowed: "a port number from 0 to 65535")
        }
        return number
    }

    /// Seconds as a decimal number (`1.5`), or with an `ms` or `s` suffix.
    func duration(_ name: String, minimum: Duration = .milliseconds(1)) throws(ConfigurationError) -> Duration {
        let value = value(name)
        var number = value
        var scale = 1.0
        if number.hasSuffix("ms") {
            number = String(number.dropLast(2))
            scale = 0.001
        } else if number.hasSuffix("s") {
            number = String(number.dropLast())
        }
        guard let seconds = Double(number).map({ $0 * scale }), seconds.isFinite,
            seconds >= 0, seconds <= 86_400 * 365, Duration.milliseconds(Int64(seconds * 1000)) >= minimum
        else {
            throw ConfigurationError(
                variable: name, value: value,
                allowed: "a number of seconds of at least \(minimum) (for example 1.5, 500ms or 30s)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    func choice(_ name: String, _ allowed: [String]) throws(ConfigurationError) -> String {
        let value = value(name)
        let lowered = value.lowercased()
        guard allowed.contains(lowered) else {
            throw ConfigurationError(variable: name, value: value, allowed: "one of " + allowed.joined(separator: ", "))
        }
        return lowered
    }

    func host(_ name: String) throws(ConfigurationError) -> String {
        let value = value(name)
        let valid = !value.isEmpty && value.count <= 253
            && value.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:_[]".unicodeScalars.contains($0) }
        guard valid else {
            throw ConfigurationError(variable: name, value: value, allowed: "a host name or IP address")
        }
        return value
    }
}
