import Foundation

/// Reads object definitions in the OMA registry's DDF XML format
/// (LWM2M.xsd: `<LWM2M><Object><ObjectID>…<Resources><Item ID="…">…`).
/// A small element scanner of its own, so the gateway needs no XML
/// library: it keeps element text and attributes, skips the prolog,
/// comments, processing instructions and DOCTYPE, and reads CDATA as text.
package enum LwM2MDDF {
    /// One element: name, attributes, text, children.
    final class Element {
        let name: String
        let attributes: [String: String]
        var text = ""
        var children: [Element] = []

        init(name: String, attributes: [String: String]) {
            self.name = name
            self.attributes = attributes
        }

        func child(_ name: String) -> Element? { children.first { $0.name == name } }
        func value(_ name: String) -> String { child(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
    }

    package static func decode(_ data: Data, file: String) throws(LwM2MModelError) -> [LwM2MObjectModel] {
        guard let text = String(data: data, encoding: .utf8) else { throw LwM2MModelError(file: file, reason: "not UTF-8") }
        let root: Element
        do {
            root = try parse(text)
        } catch {
            throw LwM2MModelError(file: file, reason: "not well-formed XML: \(error.reason)")
        }
        let objects = root.name == "Object" ? [root] : root.children.filter { $0.name == "Object" }
        guard !objects.isEmpty else { throw LwM2MModelError(file: file, reason: "no <Object> element") }
        return try objects.map { object throws(LwM2MModelError) in try model(object, file: file) }
    }

    static func model(_ object: Element, file: String) throws(LwM2MModelError) -> LwM2MObjectModel {
        guard let id = UInt16(object.value("ObjectID")) else {
            throw LwM2MModelError(file: file, reason: "ObjectID '\(object.value("ObjectID"))' is not a number")
        }
        var resources: [LwM2MResourceModel] = []
        for item in object.child("Resources")?.children.filter({ $0.name == "Item" }) ?? [] {
            guard let resourceId = item.attributes["ID"].flatMap({ UInt16($0) }) else {
                throw LwM2MModelError(file: file, reason: "object \(id): an Item without a numeric ID")
            }
            let typeName = item.value("Type")
            guard let type = resourceType(typeName) else {
                throw LwM2MModelError(file: file, reason: "object \(id) resource \(resourceId): unknown Type '\(typeName)'")
            }
            let units = item.value("Units")
            let range = item.value("RangeEnumeration")
            resources.append(LwM2MResourceModel(
                id: resourceId, name: item.value("Name"), operations: item.value("Operations"), type: type,
                multiple: item.value("MultipleInstances") == "Multiple", mandatory: item.value("Mandatory") == "Mandatory",
                units: units.isEmpty ? nil : units, range: range.isEmpty || range.count >= 40 ? nil : range))
        }
        let version = object.value("ObjectVersion")
        let urn = object.value("ObjectURN")
        return LwM2MObjectModel(
            id: id, name: object.value("Name"), version: version.isEmpty ? "1.0" : version, urn: urn.isEmpty ? nil : urn,
            multiple: object.value("MultipleInstances") == "Multiple", mandatory: object.value("Mandatory") == "Mandatory",
            resources: resources.sorted { $0.id < $1.id })
    }

    static func resourceType(_ name: String) -> LwM2MResourceType? {
        switch name.lowercased().replacingOccurrences(of: " ", with: "") {
        case "": LwM2MResourceType.none
        case "string": .string
        case "integer": .integer
        case "unsignedinteger": .unsigned
        case "float": .float
        case "boolean": .boolean
        case "opaque": .opaque
        case "time": .time
        case "objlnk": .objlnk
        case "corelnk": .corelnk
        default: nil
        }
    }

    struct ParseError: Error { let reason: String }

    /// Parses the document into its root element.
    static func parse(_ text: String) throws(ParseError) -> Element {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var stack: [Element] = []
        var root: Element?
        func starts(with prefix: String) -> Bool {
            let p = Array(prefix.unicodeScalars)
            return index + p.count <= scalars.count && Array(scalars[index..<index + p.count]) == p
        }
        func skip(past terminator: String) throws(ParseError) -> String {
            let t = Array(terminator.unicodeScalars)
            var end = index
            while end + t.count <= scalars.count {
                if Array(scalars[end..<end + t.count]) == t {
                    let skipped = String(String.UnicodeScalarView(scalars[index..<end]))
                    index = end + t.count
                    return skipped
                }
                end += 1
            }
            throw ParseError(reason: "missing '\(terminator)'")
        }
        while index < scalars.count {
            if starts(with: "<!--") {
                index += 4
                _ = try skip(past: "-->")
            } else if starts(with: "<![CDATA[") {
                index += 9
                let content = try skip(past: "]]>")
                stack.last?.text += content
            } else if starts(with: "<?") || starts(with: "<!") {
                _ = try skip(past: ">")
            } else if starts(with: "</") {
                index += 2
                let name = try skip(past: ">").trimmingCharacters(in: .whitespaces)
                guard let open = stack.popLast(), open.name == name else { throw ParseError(reason: "unexpected </\(name)>") }
                if stack.isEmpty { root = open }
            } else if scalars[index] == "<" {
                index += 1
                var tag = try skip(past: ">")
                let selfClosing = tag.hasSuffix("/")
                if selfClosing { tag.removeLast() }
                let (name, attributes) = try parseTag(tag)
                let element = Element(name: name, attributes: attributes)
                stack.last?.children.append(element)
                if selfClosing {
                    if stack.isEmpty { root = element }
                } else {
                    stack.append(element)
                }
            } else {
                var end = index
                while end < scalars.count, scalars[end] != "<" { end += 1 }
                stack.last?.text += decodeEntities(String(String.UnicodeScalarView(scalars[index..<end])))
                index = end
            }
        }
        guard stack.isEmpty, let root else { throw ParseError(reason: "unclosed elements or no root element") }
        return root
    }

    static func parseTag(_ tag: String) throws(ParseError) -> (String, [String: String]) {
        let trimmed = tag.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let nameEnd = trimmed.firstIndex(where: { $0.isWhitespace }) else { return (localName(trimmed), [:]) }
        let name = localName(String(trimmed[..<nameEnd]))
        var attributes: [String: String] = [:]
        var rest = trimmed[nameEnd...].drop(while: \.isWhitespace)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { throw ParseError(reason: "attribute without a value in <\(name)>") }
            let key = localName(rest[..<equals].trimmingCharacters(in: .whitespaces))
            rest = rest[rest.index(after: equals)...].drop(while: \.isWhitespace)
            guard let quote = rest.first, quote == "\"" || quote == "'" else { throw ParseError(reason: "unquoted attribute in <\(name)>") }
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: quote) else { throw ParseError(reason: "unterminated attribute in <\(name)>") }
            attributes[key] = decodeEntities(String(rest[..<close]))
            rest = rest[rest.index(after: close)...].drop(while: \.isWhitespace)
        }
        return (name, attributes)
    }

    /// `xsi:schemaLocation` → `schemaLocation`; DDF elements carry no prefix.
    static func localName(_ name: String) -> String {
        name.split(separator: ":").last.map(String.init) ?? name
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
