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
        if let extra = event.metadata {
            if merged.isEmpty { merged = extra } else { merged.merge(extra) { $1 } }
        }
        let line = Self.line(
            format, level: event.level, message: event.message.description, metadata: merged, label: label,
            now: Self.now()
        )
        line.withUnsafeBytes { bytes in
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

    /// The UTF-8 bytes of one record's line, newline included. Built as
    /// bytes, not by String interpolation: a device's connect and
    /// disconnect each log a line, and the Strings had been a twentieth of
    /// the gateway's CPU in a run of 10,000 connects.
    static func line(
        _ format: GatewayConfiguration.LogFormat,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        label: String,
        now: timespec
    ) -> [UInt8] {
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        var out: [UInt8] = []
        out.reserveCapacity(160 + message.utf8.count)
        let levelName = level == .warning ? "WARNING" : level.rawValue.uppercased()
        switch format {
        case .text:
            appendDate(time, separator: UInt8(ascii: " "), to: &out)
            out.append(contentsOf: " - ".utf8)
            out.append(contentsOf: levelName.utf8)
            out.append(contentsOf: " - ".utf8)
            appendEscaped(message, to: &out)
            for key in metadata.keys.sorted() {
                out.append(UInt8(ascii: " "))
                appendEscaped(key, to: &out)
                out.append(UInt8(ascii: "="))
                appendEscaped(bounded(metadata[key]!.description), to: &out)
            }
            out.append(UInt8(ascii: "\n"))
        case .json:
            out.append(contentsOf: #"{"timestamp":""#.utf8)
            appendDate(time, separator: UInt8(ascii: "T"), to: &out)
            out.append(UInt8(ascii: "."))
            appendPadded(Int(now.tv_nsec / 1_000_000), width: 3, to: &out)
            out.append(contentsOf: #"Z","level":"#.utf8)
            JSONEscaping.appendQuoted(levelName, to: &out)
            out.append(contentsOf: #","message":"#.utf8)
            JSONEscaping.appendQuoted(message, to: &out)
            out.append(contentsOf: #","logger":"#.utf8)
            JSONEscaping.appendQuoted(label, to: &out)
            for key in metadata.keys.sorted() where !reservedKeys.contains(key) {
                out.append(UInt8(ascii: ","))
                JSONEscaping.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONEscaping.appendQuoted(bounded(metadata[key]!.description), to: &out)
            }
            out.append(contentsOf: "}\n".utf8)
        }
        return out
    }

    /// The longest metadata value written: a topic or an endpoint name is
    /// the device's choice and may be 65,535 bytes long.
    static let maximumValueBytes = 1024

    /// `value`, or its first `maximumValueBytes` bytes and how long it was.
    static func bounded(_ value: String) -> String {
        let utf8 = value.utf8
        guard utf8.count > maximumValueBytes else { return value }
        // A character cut in two becomes U+FFFD.
        return String(decoding: utf8.prefix(maximumValueBytes), as: UTF8.self) + "…(\(utf8.count) bytes)"
    }

    /// Text format: control characters and backslashes escaped (`\n`,
    /// `\r`, `\t`, `\\`, `\xNN`), so a device-chosen topic or name with a
    /// newline cannot forge a log line of its own.
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
    }

    /// The JSON line's own fields, which metadata cannot overwrite.
    private static let reservedKeys: Set<String> = ["timestamp", "level", "message", "logger"]

    /// `2024-01-15 10:30:00` (text) or `2024-01-15T10:30:00` (JSON).
    private static func appendDate(_ time: tm, separator: UInt8, to out: inout [UInt8]) {
        appendPadded(Int(time.tm_year) + 1900, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(Int(time.tm_mon) + 1, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(Int(time.tm_mday), width: 2, to: &out)
        out.append(separator)
        appendPadded(Int(time.tm_hour), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(Int(time.tm_min), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(Int(time.tm_sec), width: 2, to: &out)
    }

    /// `value` (not negative) in decimal, zero-padded to `width` digits.
    private static func appendPadded(_ value: Int, width: Int, to out: inout [UInt8]) {
        var divisor = 1
        var digits = 1
        while divisor * 10 <= value || digits < width {
            divisor *= 10
            digits += 1
        }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
