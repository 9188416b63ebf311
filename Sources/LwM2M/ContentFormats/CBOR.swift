/// The subset of CBOR (RFC 8949) that SenML CBOR uses: integers, byte and
/// text strings, arrays, maps, booleans, null and floats (half, single,
/// double); definite and indefinite-length arrays and maps.
package indirect enum CBORValue: Sendable, Equatable {
    case unsigned(UInt64)
    /// -1 - n, as CBOR major type 1 carries it.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBORValue])
    case map([(CBORValue, CBORValue)])
    case boolean(Bool)
    case null
    case float(Double)

    package static func == (lhs: CBORValue, rhs: CBORValue) -> Bool {
        switch (lhs, rhs) {
        case (.unsigned(let a), .unsigned(let b)), (.negative(let a), .negative(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.text(let a), .text(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.map(let a), .map(let b)): a.elementsEqual(b) { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.boolean(let a), .boolean(let b)): a == b
        case (.null, .null): true
        case (.float(let a), .float(let b)): a == b || (a.isNaN && b.isNaN)
        default: false
        }
    }

    /// An integer value as Int64, when it fits.
    package var integer: Int64? {
        switch self {
        case .unsigned(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        case .negative(let value): value <= UInt64(Int64.max) ? -1 - Int64(value) : nil
        default: nil
        }
    }

    package static func integer(_ value: Int64) -> CBORValue {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-1 - value))
    }
}

package enum CBOR {
    static func failure(_ reason: String) -> LwM2MContentError { LwM2MContentError("CBOR", reason) }

    package static func decode(_ bytes: [UInt8]) throws(LwM2MContentError) -> CBORValue {
        var reader = Reader(bytes: bytes)
        let value = try reader.value(depth: 0)
        guard reader.index == bytes.count else { throw failure("\(bytes.count - reader.index) bytes after the value") }
        return value
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        mutating func byte() throws(LwM2MContentError) -> UInt8 {
            guard index < bytes.count else { throw failure("ends in the middle of a value") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func take(_ count: UInt64) throws(LwM2MContentError) -> ArraySlice<UInt8> {
            guard count <= UInt64(bytes.count - index) else { throw failure("a string runs past the end") }
            defer { index += Int(count) }
            return bytes[index..<index + Int(count)]
        }

        /// The argument of a head byte (RFC 8949 §3): the low 5 bits, or 1–8 bytes after.
        mutating func argument(_ info: UInt8) throws(LwM2MContentError) -> UInt64 {
            switch info {
            case 0..<24: return UInt64(info)
            case 24...27:
                let width = 1 << (info - 24)
                return try take(UInt64(width)).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            default: throw failure("reserved additional information \(info)")
            }
        }

        mutating func value(depth: Int) throws(LwM2MContentError) -> CBORValue {
            guard depth < 16 else { throw failure("nested too deep") }
            let head = try byte()
            let major = head >> 5
            let info = head & 0x1F
            switch major {
            case 0: return .unsigned(try argument(info))
            case 1: return .negative(try argument(info))
            case 2, 3:
                guard info != 31 else { throw failure("indefinite-length strings are not supported") }
                let raw = Array(try take(try argument(info)))
                if major == 2 { return .bytes(raw) }
                guard let text = String(validating: raw, as: UTF8.self) else { throw failure("text string is not UTF-8") }
                return .text(text)
            case 4:
                var items: [CBORValue] = []
                if info == 31 {
                    while bytes.indices.contains(index), bytes[index] != 0xFF { items.append(try value(depth: depth + 1)) }
                    _ = try byte()
                } else {
                    let count = try argument(info)
                    guard count <= UInt64(bytes.count - index) else { throw failure("array longer than the payload") }
                    for _ in 0..<count { items.append(try value(depth: depth + 1)) }
                }
                return .array(items)
            case 5:
                var pairs: [(CBORValue, CBORValue)] = []
                if info == 31 {
                    while bytes.indices.contains(index), bytes[index] != 0xFF {
                        pairs.append((try value(depth: depth + 1), try value(depth: depth + 1)))
                    }
                    _ = try byte()
                } else {
                    let count = try argument(info)
                    guard count <= UInt64(bytes.count - index) else { throw failure("map longer than the payload") }
                    for _ in 0..<count { pairs.append((try value(depth: depth + 1), try value(depth: depth + 1))) }
                }
                return .map(pairs)
            case 6:
                _ = try argument(info)  // a tag: the tagged value stands for itself here
                return try value(depth: depth + 1)
            default:
                switch info {
                case 20: return .boolean(false)
                case 21: return .boolean(true)
                case 22, 23: return .null
                case 25: return .float(Double(half: UInt16(try argument(info))))
                case 26: return .float(Double(Float(bitPattern: UInt32(try argument(info)))))
                case 27: return .float(Double(bitPattern: try argument(info)))
                default: throw failure("unsupported simple value \(info)")
                }
            }
        }
    }

    package static func encode(_ value: CBORValue) -> [UInt8] {
        var out: [UInt8] = []
        encode(value, into: &out)
        return out
    }

    static func head(_ major: UInt8, _ argument: UInt64, into out: inout [UInt8]) {
        switch argument {
        case 0..<24: out.append(major << 5 | UInt8(argument))
        case 24...0xFF: out += [major << 5 | 24, UInt8(argument)]
        case 0x100...0xFFFF: out += [major << 5 | 25, UInt8(argument >> 8), UInt8(truncatingIfNeeded: argument)]
        case 0x10000...0xFFFF_FFFF: out.append(major << 5 | 26); out += (0..<4).reversed().map { UInt8(truncatingIfNeeded: argument >> (UInt64($0) * 8)) }
        default: out.append(major << 5 | 27); out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: argument >> (UInt64($0) * 8)) }
        }
    }

    static func encode(_ value: CBORValue, into out: inout [UInt8]) {
        switch value {
        case .unsigned(let number): head(0, number, into: &out)
        case .negative(let number): head(1, number, into: &out)
        case .bytes(let raw): head(2, UInt64(raw.count), into: &out); out += raw
        case .text(let text): head(3, UInt64(text.utf8.count), into: &out); out += text.utf8
        case .array(let items):
            head(4, UInt64(items.count), into: &out)
            for item in items { encode(item, into: &out) }
        case .map(let pairs):
            head(5, UInt64(pairs.count), into: &out)
            for (key, item) in pairs {
                encode(key, into: &out)
                encode(item, into: &out)
            }
        case .boolean(let flag): out.append(flag ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        case .float(let number):
            // The shortest width that keeps the value (RFC 8949 §4.2.2 preferred serialization, single or double).
            if let single = Float(exactly: number) {
                out.append(0xFA)
                out += (0..<4).reversed().map { UInt8(truncatingIfNeeded: single.bitPattern >> (UInt32($0) * 8)) }
            } else {
                out.append(0xFB)
                out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: number.bitPattern >> (UInt64($0) * 8)) }
            }
        }
    }
}

extension Double {
    /// IEEE 754 binary16 (RFC 8949 Appendix D).
    init(half bits: UInt16) {
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = Double(bits & 0x3FF)
        let magnitude: Double
        switch exponent {
        case 0: magnitude = mantissa * 0x1p-24
        case 31: magnitude = mantissa == 0 ? .infinity : .nan
        default: magnitude = (mantissa + 1024) * Double(sign: .plus, exponent: exponent - 25, significand: 1)
        }
        self = bits & 0x8000 != 0 ? -magnitude : magnitude
    }
}
