/// The payload a simulated device sends: a JSON template with `{seq}` (the
/// device's sequence number, from 1), `{ts}` (the send time, ms since the
/// epoch) and `{device}` (the device's index), padded to a size so that
/// benchmarks compare like with like (issue 8: 100-byte JSON).
package struct BenchTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text([UInt8])
        case seq
        case ts
        case device
    }

    let parts: [Part]
    /// Bytes of padding inserted before the closing `}`: `,"pad":"xx…"`.
    let padding: Int

    /// The default: `{"seq":N,"ts":T}`.
    package static let defaultText = #"{"seq":{seq},"ts":{ts}}"#

    package struct TemplateError: Error, Equatable, CustomStringConvertible {
        package let description: String
    }

    /// `size`: pad the rendered payload to at least this many bytes (with a
    /// typical sequence number and timestamp); the template must then end in `}`.
    package init(_ text: String = BenchTemplate.defaultText, size: Int? = nil) throws(TemplateError) {
        var parts: [Part] = []
        var literal: [UInt8] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let tail = rest[open...]
            let placeholder: Part? =
                tail.hasPrefix("{seq}") ? .seq : tail.hasPrefix("{ts}") ? .ts : tail.hasPrefix("{device}") ? .device : nil
            literal += rest[..<open].utf8
            if let placeholder {
                if !literal.isEmpty { parts.append(.text(literal)) }
                literal = []
                parts.append(placeholder)
                let length = placeholder == .seq ? 5 : placeholder == .ts ? 4 : 8
                rest = tail.dropFirst(length)
            } else {
                literal.append(UInt8(ascii: "{"))
                rest = tail.dropFirst()
            }
        }
        literal += rest.utf8
        if !literal.isEmpty { parts.append(.text(literal)) }
        guard parts.contains(.seq) else { throw TemplateError(description: "the template needs {seq}, so bench verify can count the messages") }
        self.parts = parts
        var padding = 0
        if let size {
            guard case .text(let last)? = parts.last, last.last == UInt8(ascii: "}") else {
                throw TemplateError(description: "a template padded to --size must end with }")
            }
            // A typical rendering: a six-digit sequence number and a 13-digit timestamp.
            var typical: [UInt8] = []
            Self.render(parts, padding: 0, seq: 100_000, ts: 1_700_000_000_000, device: 100, into: &typical)
            let overhead = #","pad":"""#.utf8.count
            padding = max(0, size - typical.count - overhead)
        }
        self.padding = padding
    }

    package func render(seq: Int, ts: Int64, device: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        render(seq: seq, ts: ts, device: device, into: &bytes)
        return bytes
    }

    /// Renders into `bytes`, replacing what it held and keeping its
    /// capacity: a connection renders every message into one array.
    package func render(seq: Int, ts: Int64, device: Int, into bytes: inout [UInt8]) {
        Self.render(parts, padding: padding, seq: seq, ts: ts, device: device, into: &bytes)
    }

    private static func render(_ parts: [Part], padding: Int, seq: Int, ts: Int64, device: Int, into bytes: inout [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        bytes.reserveCapacity(64 + padding)
        for part in parts {
            switch part {
            case .text(let text): bytes += text
            case .seq: appendDecimal(Int64(seq), to: &bytes)
            case .ts: appendDecimal(ts, to: &bytes)
            case .device: appendDecimal(Int64(device), to: &bytes)
            }
        }
        if padding > 0, bytes.last == UInt8(ascii: "}") {
            bytes.removeLast()
            bytes += #","pad":""#.utf8
            bytes += repeatElement(UInt8(ascii: "x"), count: padding)
            bytes += #""}"#.utf8
        }
    }

    /// The decimal digits of `value`, without a `String` in between.
    static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt64.max's 20 digits
        withUnsafeMutableBytes(of: &scratch) { digits in
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: digits[index...])
        }
    }
}
