import Foundation
import ProcessorAPI

/// SenML (RFC 8428) as LwM2M 1.1 uses it (Core §7.4.5, §7.4.6): records
/// with a sticky base name and base time; the name resolves to a path; the
/// value is v (number), vs (string), vb (boolean), vd (data) or vlo
/// (object link "O:I").
package struct SenMLRecord: Sendable, Equatable {
    package enum Value: Sendable, Equatable {
        case integer(Int64)
        case number(Double)
        case string(String)
        case boolean(Bool)
        case data([UInt8])
        case objectLink(String)
    }

    package var baseName: String?
    package var baseTime: Double?
    package var name: String?
    package var time: Double?
    package var value: Value?

    package init(baseName: String? = nil, baseTime: Double? = nil, name: String? = nil, time: Double? = nil, value: Value? = nil) {
        self.baseName = baseName
        self.baseTime = baseTime
        self.name = name
        self.time = time
        self.value = value
    }
}

package enum SenML {
    /// Resolves records to nodes (RFC 8428 §4.5: base values apply to the
    /// records that follow until the next base). Records without a value
    /// (a Read-Composite request list) are skipped.
    package static func nodes(
        _ records: [SenMLRecord],
        format: String,
        types: (LwM2MPath) -> LwM2MResourceType?
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        var baseName = ""
        var baseTime: Double?
        var nodes: [LwM2MNode] = []
        for record in records {
            if let name = record.baseName { baseName = name }
            if let time = record.baseTime { baseTime = time }
            let name = baseName + (record.name ?? "")
            guard let path = LwM2MPath(name), path.isResource || path.isResourceInstance else {
                throw LwM2MContentError(format, "'\(name)' is not a resource path")
            }
            guard let raw = record.value else { continue }
            let value: LwM2MValue
            switch raw {
            case .integer(let number): value = .integer(number)
            case .number(let number): value = .float(number)
            case .string(let text): value = .string(text)
            case .boolean(let flag): value = .boolean(flag)
            case .data(let bytes): value = .opaque(bytes)
            case .objectLink(let text):
                guard let link = LwM2MPlainText.value(text, as: .objlnk) else { throw LwM2MContentError(format, "vlo '\(text)' is not O:I") }
                value = link
            }
            var typed = value
            if let resource = path.resourcePath, let type = types(resource), type != .none, value.type != type {
                // A string is not a number: only numeric conversions happen here, and opaque data stays as sent.
                if case .string = value, type != .corelnk { throw LwM2MContentError(format, "\(path) must be \(type.rawValue)") }
                typed = value.converted(to: type) ?? value
            }
            let time: Double? = switch (baseTime, record.time) {
            case (nil, nil): nil
            default: (baseTime ?? 0) + (record.time ?? 0)
            }
            if let time, !SenML.isValidTime(time) {
                throw LwM2MContentError(format, "time \(time) is not a number of seconds within ±\(Int64(SenML.maximumTime))")
            }
            nodes.append(LwM2MNode(path, typed, time: time))
        }
        return nodes
    }

    /// The largest time accepted, in seconds: 9999-12-31T23:59:59Z. A time
    /// is a device's number (RFC 8428 §4.5.3); NaN, infinity or 1e300 from
    /// JSON or CBOR is a bad value, not something to convert into a
    /// millisecond timestamp (that conversion trapped).
    package static let maximumTime: Double = 253_402_300_799

    package static func isValidTime(_ time: Double) -> Bool {
        time.isFinite && abs(time) <= maximumTime
    }

    /// Milliseconds since the epoch for a SenML time: values under 2^28
    /// are relative to now (RFC 8428 §4.5.3: 0 is now, -60 a minute ago).
    /// Out-of-range times give `now` (the decoders refuse them first).
    package static func epochMilliseconds(_ time: Double, now: Int64) -> Int64 {
        guard isValidTime(time) else { return now }
        let milliseconds = Int64((time * 1000).rounded())
        return abs(time) < 268_435_456 ? now &+ milliseconds : milliseconds
    }

    /// Records for nodes read at `base`: the base path with a trailing "/" as
    /// base name and relative names, or one record with the full path.
    package static func records(_ nodes: [LwM2MNode], base: LwM2MPath) -> [SenMLRecord] {
        let sorted = nodes.sorted { $0.path < $1.path }
        if sorted.count == 1, sorted[0].path == base {
            return [SenMLRecord(baseName: base.description, value: value(sorted[0].value))]
        }
        let prefix = base.description + "/"
        return sorted.enumerated().map { index, node in
            let relative = String(node.path.description.dropFirst(prefix.count))
            return SenMLRecord(baseName: index == 0 ? prefix : nil, name: relative, time: node.time, value: value(node.value))
        }
    }

    static func value(_ value: LwM2MValue) -> SenMLRecord.Value {
        switch value {
        case .string(let text), .corelnk(let text): .string(text)
        case .integer(let number), .time(let number): .integer(number)
        case .unsigned(let number): number <= UInt64(Int64.max) ? .integer(Int64(number)) : .number(Double(number))
        case .float(let number): .number(number)
        case .boolean(let flag): .boolean(flag)
        case .opaque(let bytes): .data(bytes)
        case .objlnk(let object, let instance): .objectLink("\(object):\(instance)")
        }
    }
}

/// SenML JSON, Content-Format 110.
package enum SenMLJSON {
    package static let contentFormat: UInt32 = 110
    static let format = "SenML JSON"

    package static func decode(
        _ bytes: [UInt8],
        types: (LwM2MPath) -> LwM2MResourceType? = { _ in nil }
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        try SenML.nodes(try records(bytes), format: format, types: types)
    }

    package static func records(_ bytes: [UInt8]) throws(LwM2MContentError) -> [SenMLRecord] {
        let parsed: [JSONRecord]
        do {
            parsed = try JSONDecoder().decode([JSONRecord].self, from: Data(bytes))
        } catch {
            throw LwM2MContentError(format, "not a JSON array of SenML records (\(Self.reason(error)))")
        }
        return try parsed.map { record throws(LwM2MContentError) in
            let values = [record.v.map { _ in 1 }, record.vs.map { _ in 1 }, record.vb.map { _ in 1 }, record.vd.map { _ in 1 }, record.vlo.map { _ in 1 }]
            guard values.compactMap({ $0 }).count <= 1 else { throw LwM2MContentError(format, "a record has more than one value") }
            var value: SenMLRecord.Value?
            if let number = record.v { value = number.integer.map(SenMLRecord.Value.integer) ?? .number(number.double) }
            if let text = record.vs { value = .string(text) }
            if let flag = record.vb { value = .boolean(flag) }
            if let data = record.vd {
                guard let bytes = base64URL(data) else { throw LwM2MContentError(format, "vd is not base64") }
                value = .data(bytes)
            }
            if let link = record.vlo { value = .objectLink(link) }
            return SenMLRecord(baseName: record.bn, baseTime: record.bt?.double, name: record.n, time: record.t?.double, value: value)
        }
    }

    package static func encode(_ nodes: [LwM2MNode], base: LwM2MPath) -> [UInt8] {
        let objects = SenML.records(nodes, base: base).map { record in
            var fields: [String] = []
            if let name = record.baseName { fields.append(#""bn":"# + JSONEscaping.quoted(name)) }
            if let name = record.name { fields.append(#""n":"# + JSONEscaping.quoted(name)) }
            if let time = record.time { fields.append(#""t":"# + LwM2MValue.number(time)) }
            switch record.value {
            case .integer(let number): fields.append(#""v":"# + String(number))
            case .number(let number): fields.append(#""v":"# + LwM2MValue.number(number))
            case .string(let text): fields.append(#""vs":"# + JSONEscaping.quoted(text))
            case .boolean(let flag): fields.append(#""vb":"# + (flag ? "true" : "false"))
            case .data(let bytes): fields.append(#""vd":"# + JSONEscaping.quoted(base64URLString(bytes)))
            case .objectLink(let link): fields.append(#""vlo":"# + JSONEscaping.quoted(link))
            case nil: break
            }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return Array(("[" + objects.joined(separator: ",") + "]").utf8)
    }

    /// A JSON number kept as written: integer when it has no fraction.
    struct Number: Decodable {
        let integer: Int64?
        let double: Double

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let integer = try? container.decode(Int64.self) {
                self.integer = integer
                self.double = Double(integer)
            } else {
                self.integer = nil
                self.double = try container.decode(Double.self)
            }
        }
    }

    struct JSONRecord: Decodable {
        var bn: String?
        var bt: Number?
        var n: String?
        var t: Number?
        var v: Number?
        var vs: String?
        var vb: Bool?
        var vd: String?
        var vlo: String?
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// RFC 8428 §4.3: vd is base64url without padding; plain base64 is accepted too.
    static func base64URL(_ text: String) -> [UInt8]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map(Array.init)
    }

    static func base64URLString(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// SenML CBOR, Content-Format 112: the same records with the integer
/// labels of RFC 8428 §6 (bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6, vd 8)
/// and LwM2M's text label "vlo".
package enum SenMLCBOR {
    package static let contentFormat: UInt32 = 112
    static let format = "SenML CBOR"

    package static func decode(
        _ bytes: [UInt8],
        types: (LwM2MPath) -> LwM2MResourceType? = { _ in nil }
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        try SenML.nodes(try records(bytes), format: format, types: types)
    }

    package static func records(_ bytes: [UInt8]) throws(LwM2MContentError) -> [SenMLRecord] {
        func failure(_ reason: String) -> LwM2MContentError { LwM2MContentError(format, reason) }
        guard case .array(let items) = try CBOR.decode(bytes) else { throw failure("not an array of records") }
        return try items.map { item throws(LwM2MContentError) in
            guard case .map(let pairs) = item else { throw failure("a record is not a map") }
            var record = SenMLRecord()
            var values = 0
            for (key, value) in pairs {
                func number() throws(LwM2MContentError) -> Double {
                    if let integer = value.integer { return Double(integer) }
                    if case .float(let double) = value { return double }
                    throw failure("label \(key) needs a number")
                }
                func text() throws(LwM2MContentError) -> String {
                    guard case .text(let string) = value else { throw failure("label \(key) needs a text string") }
                    return string
                }
                switch key {
                case .negative(1): record.baseName = try text()  // -2
                case .negative(2): record.baseTime = try number()  // -3
                case .unsigned(0): record.name = try text()
                case .unsigned(6): record.time = try number()
                case .unsigned(2):
                    values += 1
                    if let integer = value.integer { record.value = .integer(integer) } else { record.value = .number(try number()) }
                case .unsigned(3): values += 1; record.value = .string(try text())
                case .unsigned(4):
                    guard case .boolean(let flag) = value else { throw failure("vb needs a boolean") }
                    values += 1
                    record.value = .boolean(flag)
                case .unsigned(8):
                    guard case .bytes(let data) = value else { throw failure("vd needs a byte string") }
                    values += 1
                    record.value = .data(data)
                case .text("vlo"): values += 1; record.value = .objectLink(try text())
                default: continue  // units, sums, versions: not used by LwM2M
                }
            }
            guard values <= 1 else { throw failure("a record has more than one value") }
            return record
        }
    }

    package static func encode(_ nodes: [LwM2MNode], base: LwM2MPath) -> [UInt8] {
        let items: [CBORValue] = SenML.records(nodes, base: base).map { record in
            var pairs: [(CBORValue, CBORValue)] = []
            if let name = record.baseName { pairs.append((.negative(1), .text(name))) }
            if let name = record.name { pairs.append((.unsigned(0), .text(name))) }
            if let time = record.time { pairs.append((.unsigned(6), .float(time))) }
            switch record.value {
            case .integer(let number): pairs.append((.unsigned(2), .integer(number)))
            case .number(let number): pairs.append((.unsigned(2), .float(number)))
            case .string(let text): pairs.append((.unsigned(3), .text(text)))
            case .boolean(let flag): pairs.append((.unsigned(4), .boolean(flag)))
            case .data(let bytes): pairs.append((.unsigned(8), .bytes(bytes)))
            case .objectLink(let link): pairs.append((.text("vlo"), .text(link)))
            case nil: break
            }
            return .map(pairs)
        }
        return CBOR.encode(.array(items))
    }
}
