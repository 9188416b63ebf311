/// A single-pass JSON validator (RFC 8259) that reports where things are
/// instead of building values, so a device's bytes can be forwarded as they
/// came. Strings are checked for valid UTF-8 and escapes; nesting is bounded.
package struct JSONScanner {
    package struct Failure: Error, Sendable, Equatable {
        /// Byte offset into the scanned text.
        package let offset: Int
        package let reason: String
    }

    /// The contents of a string literal, without its quotes.
    package struct StringSpan: Sendable {
        package let range: Range<Int>
        package let hasEscapes: Bool
    }

    package static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    package private(set) var index: Int = 0

    package init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    package var isAtEnd: Bool { index >= bytes.count }

    package func byte(at offset: Int) -> UInt8 { bytes[offset] }

    /// The whole text being scanned.
    package var text: UnsafeRawBufferPointer { bytes }

    package mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> Failure {
        Failure(offset: offset ?? index, reason: reason)
    }

    /// The next non-whitespace byte, without consuming it.
    package mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Validates one value and returns its byte range.
    package mutating func scanValue(depth: Int = 0) throws(Failure) -> Range<Int> {
        guard let first = peek() else { throw fail("unexpected end of JSON") }
        let start = index
        switch first {
        case UInt8(ascii: "{"):
            try scanObject(depth: depth) { (_: StringSpan, _: Range<Int>) throws(Failure) in }
        case UInt8(ascii: "["):
            try scanArray(depth: depth) { (_: Range<Int>) throws(Failure) in }
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "t"): try scanLiteral("true")
        case UInt8(ascii: "f"): try scanLiteral("false")
        case UInt8(ascii: "n"): try scanLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanNumber()
        default:
            throw fail("unexpected character '\(Self.printable(first))'")
        }
        return start..<index
    }

    /// Scans an object, calling `member` with each key and the range of its value.
    package mutating func scanObject(
        depth: Int,
        member: (StringSpan, Range<Int>) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < Self.maximumDepth else { throw fail("nesting deeper than \(Self.maximumDepth)") }
        guard peek() == UInt8(ascii: "{") else { throw fail("expected an object") }
        index += 1
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try scanString()
            guard peek() == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            index += 1
            let value = try scanValue(depth: depth + 1)
            try member(key, value)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    /// Scans an array, calling `element` with the range of each element.
    package mutating func scanArray(
        depth: Int,
        element: (Range<Int>) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < Self.maximumDepth else { throw fail("nesting deeper than \(Self.maximumDepth)") }
        guard peek() == UInt8(ascii: "[") else { throw fail("expected an array") }
        index += 1
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            let value = try scanValue(depth: depth + 1)
            try element(value)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    package mutating func scanString() throws(Failure) -> StringSpan {
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        index += 1
        let start = index
        var hasEscapes = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let span = StringSpan(range: start..<index, hasEscapes: hasEscapes)
                index += 1
                return span
            case UInt8(ascii: "\\"):
                hasEscapes = true
                try scanEscape()
            case 0x00..<0x20:
                throw fail("control character in a string")
            case 0x80...:
                try scanUTF8Sequence()
            default:
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func scanEscape() throws(Failure) {
        index += 1
        guard index < bytes.count else { throw fail("unterminated escape") }
        switch bytes[index] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            index += 1
            for _ in 0..<4 {
                guard index < bytes.count, Self.hexValue(bytes[index]) != nil else {
                    throw fail("invalid \\u escape")
                }
                index += 1
            }
        default:
            throw fail("invalid escape")
        }
    }

    /// RFC 3629 §4: well-formed UTF-8, no overlongs, no surrogates.
    private mutating func scanUTF8Sequence() throws(Failure) {
        let lead = bytes[index]
        let count: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0: count = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 2
        case 0xED: count = 2; high = 0x9F
        case 0xF0: count = 3; low = 0x90
        case 0xF1...0xF3: count = 3
        case 0xF4: count = 3; high = 0x8F
        default: throw fail("invalid UTF-8")
        }
        guard index + count < bytes.count else { throw fail("invalid UTF-8") }
        let second = bytes[index + 1]
        guard second >= low, second <= high else { throw fail("invalid UTF-8") }
        for offset in stride(from: 2, through: count, by: 1) {
            guard bytes[index + offset] & 0xC0 == 0x80 else { throw fail("invalid UTF-8") }
        }
        index += count + 1
    }

    /// Returns the range and whether the number is a plain integer (no
    /// fraction, no exponent). A number the backend cannot hold is refused
    /// here rather than forwarded: an integer outside Int64 (ThingsBoard
    /// keeps integers as long) or a number whose double is infinite
    /// (`1e309`). RFC 8259 §6 leaves the range to the implementation.
    package mutating func scanNumber() throws(Failure) -> (range: Range<Int>, isInteger: Bool) {
        let start = index
        var isInteger = true
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("invalid number") }
        let digitsStart = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        let integerDigits = index - digitsStart
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            var sign = 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                if bytes[index] == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, Self.isDigit(bytes[index]) {
                // Saturates: past 100,000 the answer no longer changes.
                exponent = min(exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")), 100_000)
                index += 1
            }
            exponent *= sign
        }
        if isInteger {
            if integerDigits > 19 || (integerDigits == 19 && !fitsInt64(digitsStart, negative: negative)) {
                throw fail("number out of range (integers are 64-bit)", at: start)
            }
        } else if integerDigits + exponent > 308, !isFiniteDouble(start..<index) {
            // Only numbers near double's range are parsed: the common case costs nothing.
            throw fail("number out of range (larger than a double)", at: start)
        }
        return (start..<index, isInteger)
    }

    /// Whether the 19 digits at `offset` are at most Int64's magnitude.
    private func fitsInt64(_ offset: Int, negative: Bool) -> Bool {
        let limit = Array((negative ? "9223372036854775808" : "9223372036854775807").utf8)
        for position in 0..<19 where bytes[offset + position] != limit[position] {
            return bytes[offset + position] < limit[position]
        }
        return true
    }

    private func isFiniteDouble(_ range: Range<Int>) -> Bool {
        let text = String(decoding: bytes[range], as: UTF8.self)
        return Double(text)?.isFinite ?? false
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("invalid literal") }
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw fail("invalid literal")
        }
        index += count
    }

    /// Decodes a string span (escapes included) into a Swift string.
    package func decode(_ span: StringSpan) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[span.range])
        guard span.hasEscapes else { return String(decoding: slice, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var position = 0
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        while position < slice.count {
            let byte = slice[position]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                position += 1
                continue
            }
            flush()
            let code = slice[position + 1]
            position += 2
            switch code {
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var unit = Self.hex4(slice, at: position)
                position += 4
                // A high surrogate followed by `\uDC00`-`\uDFFF` is one scalar;
                // a lone surrogate becomes U+FFFD.
                if (0xD800..<0xDC00).contains(unit), position + 6 <= slice.count,
                    slice[position] == UInt8(ascii: "\\"), slice[position + 1] == UInt8(ascii: "u")
                {
                    let next = Self.hex4(slice, at: position + 2)
                    if (0xDC00..<0xE000).contains(next) {
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (next - 0xDC00)
                        position += 6
                    }
                }
                scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
            default: scalars.append(Unicode.Scalar(code))
            }
        }
        flush()
        return String(scalars)
    }

    private static func hex4(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in offset..<(offset + 4) {
            value = value << 4 | UInt32(hexValue(bytes[index]) ?? 0)
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func printable(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
    }
}
