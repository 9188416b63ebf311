import Foundation

/// text/plain (0) and application/octet-stream (42): one resource value
/// (LwM2M Core §7.4.1, §7.4.2). Plain text has no type of its own, so the
/// model's type decides how the text is read.
package enum LwM2MPlainText {
    package static let contentFormat: UInt32 = 0

    static func failure(_ reason: String) -> LwM2MContentError { LwM2MContentError("text/plain", reason) }

    package static func decode(_ bytes: [UInt8], path: LwM2MPath, type: LwM2MResourceType?) throws(LwM2MContentError) -> LwM2MNode {
        guard path.isResource || path.isResourceInstance else { throw failure("only a single resource is plain text, not \(path)") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw failure("not UTF-8") }
        guard let type, type != .string else { return LwM2MNode(path, .string(text)) }
        guard let value = value(text, as: type) else { throw failure("'\(text.prefix(40))' is not a valid \(type.rawValue)") }
        return LwM2MNode(path, value)
    }

    package static func encode(_ value: LwM2MValue) -> [UInt8] {
        switch value {
        case .string(let text), .corelnk(let text): Array(text.utf8)
        case .integer(let number), .time(let number): Array(String(number).utf8)
        case .unsigned(let number): Array(String(number).utf8)
        case .float(let number): Array((number == number.rounded() && abs(number) < 1e15 ? String(format: "%.1f", number) : "\(number)").utf8)
        case .boolean(let flag): [flag ? UInt8(ascii: "1") : UInt8(ascii: "0")]
        case .opaque(let raw): Array(Data(raw).base64EncodedString().utf8)
        case .objlnk(let object, let instance): Array("\(object):\(instance)".utf8)
        }
    }

    /// Reads text as `type` (§7.4.1: booleans are "0"/"1", object links "O:I", opaque base64).
    package static func value(_ text: String, as type: LwM2MResourceType) -> LwM2MValue? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch type {
        case .string, .none: return .string(text)
        case .corelnk: return .corelnk(text)
        case .integer: return Int64(trimmed).map(LwM2MValue.integer)
        case .time: return Int64(trimmed).map(LwM2MValue.time)
        case .unsigned: return UInt64(trimmed).map(LwM2MValue.unsigned)
        case .float:
            guard let number = Double(trimmed), number.isFinite else { return nil }
            return .float(number)
        case .boolean:
            switch trimmed {
            case "1", "true": return .boolean(true)
            case "0", "false": return .boolean(false)
            default: return nil
            }
        case .opaque: return Data(base64Encoded: trimmed).map { .opaque(Array($0)) }
        case .objlnk:
            let parts = trimmed.split(separator: ":")
            guard parts.count == 2, let object = UInt16(parts[0]), let instance = UInt16(parts[1]) else { return nil }
            return .objlnk(objectId: object, instanceId: instance)
        }
    }
}

/// application/octet-stream (42): the bytes of one opaque resource.
package enum LwM2MOpaque {
    package static let contentFormat: UInt32 = 42

    package static func decode(_ bytes: [UInt8], path: LwM2MPath) throws(LwM2MContentError) -> LwM2MNode {
        guard path.isResource || path.isResourceInstance else {
            throw LwM2MContentError("opaque", "only a single resource is opaque, not \(path)")
        }
        return LwM2MNode(path, .opaque(bytes))
    }

    package static func encode(_ value: LwM2MValue) -> [UInt8] {
        if case .opaque(let raw) = value { return raw }
        return LwM2MTLV.bytes(value)
    }
}
