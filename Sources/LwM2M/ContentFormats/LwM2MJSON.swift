import Foundation
import ProcessorAPI

/// OMA LwM2M JSON, Content-Format 11543 (LwM2M 1.0 TS §6.4.4):
/// `{"bn":"/3/0/","bt":…,"e":[{"n":"0","sv":"…"},{"n":"9","v":87},{"n":"6/0","bv":true},{"n":"1","ov":"3:0"}]}`;
/// opaque values travel base64 in "sv".
package enum LwM2MJSON {
    package static let contentFormat: UInt32 = 11543
    static let format = "LwM2M JSON"

    struct Document: Decodable {
        var bn: String?
        var bt: SenMLJSON.Number?
        var e: [Entry]
    }

    struct Entry: Decodable {
        var n: String?
        var t: SenMLJSON.Number?
        var v: SenMLJSON.Number?
        var sv: String?
        var bv: Bool?
        var ov: String?
    }

    package static func decode(
        _ bytes: [UInt8],
        base: LwM2MPath? = nil,
        types: (LwM2MPath) -> LwM2MResourceType? = { _ in nil }
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw LwM2MContentError(format, "not an LwM2M JSON object (\(SenMLJSON.reason(error)))")
        }
        let records = try document.e.enumerated().map { index, entry throws(LwM2MContentError) -> SenMLRecord in
            var value: SenMLRecord.Value?
            var count = 0
            if let number = entry.v { count += 1; value = number.integer.map(SenMLRecord.Value.integer) ?? .number(number.double) }
            if let text = entry.sv { count += 1; value = .string(text) }
            if let flag = entry.bv { count += 1; value = .boolean(flag) }
            if let link = entry.ov { count += 1; value = .objectLink(link) }
            guard count <= 1 else { throw LwM2MContentError(format, "entry \(index) has more than one value") }
            return SenMLRecord(
                baseName: index == 0 ? (document.bn ?? base.map { $0.description + "/" } ?? "") : nil,
                baseTime: index == 0 ? document.bt?.double : nil, name: entry.n, time: entry.t?.double, value: value)
        }
        // An opaque resource arrives as base64 text in "sv".
        return try SenML.nodes(records, format: format, types: { _ in nil }).map { node throws(LwM2MContentError) in
            guard let resource = node.path.resourcePath, let type = types(resource), type != .none, node.value.type != type else { return node }
            if case .string(let text) = node.value, type == .opaque {
                guard let data = Data(base64Encoded: text) else { throw LwM2MContentError(format, "\(node.path): sv is not base64") }
                return LwM2MNode(node.path, .opaque(Array(data)), time: node.time)
            }
            if case .string = node.value, type != .corelnk { throw LwM2MContentError(format, "\(node.path) must be \(type.rawValue)") }
            return LwM2MNode(node.path, node.value.converted(to: type) ?? node.value, time: node.time)
        }
    }

    package static func encode(_ nodes: [LwM2MNode], base: LwM2MPath) -> [UInt8] {
        let prefix = base.description + "/"
        let entries = nodes.sorted { $0.path < $1.path }.map { node in
            var fields: [String] = []
            let relative = node.path == base ? "" : String(node.path.description.dropFirst(prefix.count))
            fields.append(#""n":"# + JSONEscaping.quoted(relative))
            switch node.value {
            case .string(let text), .corelnk(let text): fields.append(#""sv":"# + JSONEscaping.quoted(text))
            case .integer(let number), .time(let number): fields.append(#""v":"# + String(number))
            case .unsigned(let number): fields.append(#""v":"# + String(number))
            case .float(let number): fields.append(#""v":"# + LwM2MValue.number(number))
            case .boolean(let flag): fields.append(#""bv":"# + (flag ? "true" : "false"))
            case .opaque(let bytes): fields.append(#""sv":"# + JSONEscaping.quoted(Data(bytes).base64EncodedString()))
            case .objlnk(let object, let instance): fields.append(#""ov":"# + JSONEscaping.quoted("\(object):\(instance)"))
            }
            if let time = node.time { fields.append(#""t":"# + LwM2MValue.number(time)) }
            return "{" + fields.joined(separator: ",") + "}"
        }
        let text = #"{"bn":"# + JSONEscaping.quoted(prefix) + #","e":["# + entries.joined(separator: ",") + "]}"
        return Array(text.utf8)
    }
}

/// Every content format behind one call, by Content-Format number.
package enum LwM2MContentFormat {
    package static let supported: [UInt32] = [
        LwM2MPlainText.contentFormat, CoRELinkFormat.contentFormat, LwM2MOpaque.contentFormat,
        SenMLJSON.contentFormat, SenMLCBOR.contentFormat, LwM2MTLV.contentFormat, LwM2MJSON.contentFormat,
    ]

    /// Decodes a payload that answers (or writes) `path`.
    package static func decode(
        _ bytes: [UInt8],
        format: UInt32?,
        path: LwM2MPath,
        types: (LwM2MPath) -> LwM2MResourceType?
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        switch format ?? (path.isResource || path.isResourceInstance ? LwM2MPlainText.contentFormat : LwM2MTLV.contentFormat) {
        case LwM2MPlainText.contentFormat: [try LwM2MPlainText.decode(bytes, path: path, type: path.resourcePath.flatMap(types))]
        case LwM2MOpaque.contentFormat: [try LwM2MOpaque.decode(bytes, path: path)]
        case LwM2MTLV.contentFormat: try LwM2MTLV.decode(bytes, base: path, types: types)
        case SenMLJSON.contentFormat: try SenMLJSON.decode(bytes, types: types)
        case SenMLCBOR.contentFormat: try SenMLCBOR.decode(bytes, types: types)
        case LwM2MJSON.contentFormat: try LwM2MJSON.decode(bytes, base: path, types: types)
        case let other: throw LwM2MContentError("content format \(other)", "not supported")
        }
    }

    /// Encodes nodes at `path` in `format`; nil for a format that cannot
    /// carry them (plain text or opaque for more than one value).
    package static func encode(_ nodes: [LwM2MNode], format: UInt32, path: LwM2MPath) -> [UInt8]? {
        switch format {
        case LwM2MPlainText.contentFormat: nodes.count == 1 ? LwM2MPlainText.encode(nodes[0].value) : nil
        case LwM2MOpaque.contentFormat: nodes.count == 1 ? LwM2MOpaque.encode(nodes[0].value) : nil
        case LwM2MTLV.contentFormat: LwM2MTLV.encode(nodes, base: path)
        case SenMLJSON.contentFormat: SenMLJSON.encode(nodes, base: path)
        case SenMLCBOR.contentFormat: SenMLCBOR.encode(nodes, base: path)
        case LwM2MJSON.contentFormat: LwM2MJSON.encode(nodes, base: path)
        default: nil
        }
    }
}
