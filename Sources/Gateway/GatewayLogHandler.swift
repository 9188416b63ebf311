#if canImport(Glibc)
import Glibc
#endif
import Logging
import ProcessorAPI

/// Writes one line per log record to standard output: a JSON object
/// (LOG_FORMAT=json) or `2024-01-15 10:30:00 - INFO - message key=value`
/// (LOG_FORMAT=text). One `write(2)` per line, so lines from different
/// threads never interleave.
struct GatewayLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String
    let format: GatewayConfiguration.LogFormat
    let fileDescriptor: Int32

    init(label: String, level: Logger.Level, format: GatewayConfiguration.LogFormat, fileDescriptor: Int32 = 1) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.fileDescriptor = fileDescriptor
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var line = Self.format(
            format, level: event.level, message: "\(event.message)", metadata: merged, label: label,
            now: Self.now()
        )
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    static func now() -> timespec {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return spec
    }

    /// The line for one record, newline included.
    static func format(
        _ format: GatewayConfiguration.LogFormat,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        label: String,
        now: timespec
    ) -> String {
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let date = "\(pad(time.tm_year + 1900, 4))-\(pad(time.tm_mon + 1, 2))-\(pad(time.tm_mday, 2))"
        let clock = "\(pad(time.tm_hour, 2)):\(pad(time.tm_min, 2)):\(pad(time.tm_sec, 2))"
        let levelName = level == .warning ? "WARNING" : level.rawValue.uppercased()
        switch format {
        case .text:
            var line = "\(date) \(clock) - \(levelName) - \(message)"
            for key in metadata.keys.sorted() {
                line += " \(key)=\(metadata[key]!)"
            }
            return line + "\n"
        case .json:
            let millis = pad(Int32(now.tv_nsec / 1_000_000), 3)
            var line = #"{"timestamp":"# + JSONEscaping.quoted("\(date)T\(clock).\(millis)Z")
            line += #","level":"# + JSONEscaping.quoted(levelName)
            line += #","message":"# + JSONEscaping.quoted(message)
            line += #","logger":"# + JSONEscaping.quoted(label)
            for key in metadata.keys.sorted() where !["timestamp", "level", "message", "logger"].contains(key) {
                line += "," + JSONEscaping.quoted(key) + ":" + JSONEscaping.quoted("\(metadata[key]!)")
            }
            return line + "}\n"
        }
    }
}
