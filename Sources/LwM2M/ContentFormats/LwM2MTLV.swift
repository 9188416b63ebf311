/// OMA-TLV, Content-Format 11542 (LwM2M Core §7.4.3): a type byte
/// (identifier kind, identifier width, length width), the identifier, the
/// length and the value; object instances and multiple resources nest.
package enum LwM2MTLV {
    package static let contentFormat: UInt32 = 11542

    /// Bits 7–6 of the type byte.
    enum Kind: UInt8 {
        case objectInstance = 0b00
        case resourceInstance = 0b01
        case multipleResource = 0b10
        case resourceWithValue = 0b11
    }

    struct Entry {
        let kind: Kind
        let id: UInt16
        let value: ArraySlice<UInt8>
    }

    static func failure(_ reason: String) -> LwM2MContentError { LwM2MContentError("TLV", reason) }

    /// Splits a byte run into its top-level entries.
    static func entries(_ bytes: ArraySlice<UInt8>) throws(LwM2MContentError) -> [Entry] {
        var entries: [Entry] = []
        var index = bytes.startIndex
        func take(_ count: Int) throws(LwM2MContentError) -> ArraySlice<UInt8> {
            guard count >= 0, bytes.endIndex - index >= count else { throw failure("entry runs past the end") }
            defer { index += count }
            return bytes[index..<index + count]
        }
        func number(_ slice: ArraySlice<UInt8>) -> Int { slice.reduce(0) { $0 << 8 | Int($1) } }
        while index < bytes.endIndex {
            let type = try take(1).first!
            let kind = Kind(rawValue: type >> 6)!
            let id = number(try take(type & 0x20 != 0 ? 2 : 1))
            let lengthType = (type >> 3) & 0x3
            let length = lengthType == 0 ? Int(type & 0x7) : number(try take(Int(lengthType)))
            guard id != Int(UInt16.max) else { throw failure("identifier 65535 is reserved") }
            entries.append(Entry(kind: kind, id: UInt16(id), value: try take(length)))
        }
        return entries
    }

    /// Decodes a payload read or written at `base`. Values stay as their raw
    /// bytes unless `types` knows the resource's type.
    package static func decode(
        _ bytes: [UInt8],
        base: LwM2MPath,
        types: (LwM2MPath) -> LwM2MResourceType? = { _ in nil }
    ) throws(LwM2MContentError) -> [LwM2MNode] {
        var nodes: [LwM2MNode] = []
        try decode(bytes[...], parent: nil, base: base, depth: 0, into: &nodes)
        return try nodes.map { node throws(LwM2MContentError) in
            guard let resource = node.path.resourcePath, let type = types(resource), type != .none,
                case .opaque(let raw) = node.value
            else { return node }
            guard let typed = value(raw, as: type) else {
                throw failure("\(node.path) is not a valid \(type.rawValue) (\(raw.count) bytes)")
            }
            return LwM2MNode(node.path, typed)
        }
    }

    private static func decode(
        _ bytes: ArraySlice<UInt8>,
        parent: LwM2MPath?,
        base: LwM2MPath,
        depth: Int,
        into nodes: inout [LwM2MNode]
    ) throws(LwM2MContentError) {
        guard depth < 3 else { throw failure("nested too deep") }
        for entry in try entries(bytes) {
            let path: LwM2MPath?
            switch entry.kind {
            case .objectInstance:
                guard parent == nil else { throw failure("object instance inside another entry") }
                path = LwM2MPath(base.objectId, entry.id)
            case .resourceWithValue, .multipleResource:
                let instance = parent ?? (base.instanceId.map { LwM2MPath(base.objectId, $0) })
                guard let instance, instance.isInstance else { throw failure("resource \(entry.id) outside an object instance") }
                path = instance.appending(entry.id)
            case .resourceInstance:
                let resource = parent ?? base.resourcePath
                guard let resource, resource.isResource else { throw failure("resource instance \(entry.id) outside a resource") }
                path = resource.appending(entry.id)
            }
            guard let path else { throw failure("bad nesting") }
            switch entry.kind {
            case .objectInstance, .multipleResource:
                try decode(entry.value, parent: path, base: base, depth: depth + 1, into: &nodes)
            case .resourceWithValue, .resourceInstance:
                nodes.append(LwM2MNode(path, .opaque(Array(entry.value))))
            }
        }
    }

    // MARK: Encoding

    /// Encodes nodes for a response or write at `base`: object instances
    /// for an object, resources for an instance, a resource (or its
    /// instances) for a resource. Resource-instance nodes make a multiple resource.
    package static func encode(_ nodes: [LwM2MNode], base: LwM2MPath) -> [UInt8] {
        let sorted = nodes.sorted { $0.path < $1.path }
        var out: [UInt8] = []
        if base.isObject {
            for (instance, members) in group(sorted, by: { $0.path.instanceId! }) {
                append(.objectInstance, instance, encodeResources(members), to: &out)
            }
        } else if base.isInstance {
            out = encodeResources(sorted)
        } else if base.isResourceInstance, let node = sorted.first {
            append(.resourceInstance, base.resourceInstanceId!, bytes(node.value), to: &out)
        } else {
            out = encodeResources(sorted)
        }
        return out
    }

    private static func encodeResources(_ nodes: [LwM2MNode]) -> [UInt8] {
        var out: [UInt8] = []
        for (resource, members) in group(nodes, by: { $0.path.resourceId! }) {
            if members.count == 1, members[0].path.resourceInstanceId == nil {
                append(.resourceWithValue, resource, bytes(members[0].value), to: &out)
            } else {
                var inner: [UInt8] = []
                for member in members {
                    append(.resourceInstance, member.path.resourceInstanceId ?? 0, bytes(member.value), to: &inner)
                }
                append(.multipleResource, resource, inner, to: &out)
            }
        }
        return out
    }

    private static func group(_ nodes: [LwM2MNode], by key: (LwM2MNode) -> UInt16) -> [(UInt16, [LwM2MNode])] {
        var groups: [(UInt16, [LwM2MNode])] = []
        for node in nodes {
            let id = key(node)
            if groups.last?.0 == id { groups[groups.count - 1].1.append(node) } else { groups.append((id, [node])) }
        }
        return groups
    }

    static func append(_ kind: Kind, _ id: UInt16, _ value: [UInt8], to out: inout [UInt8]) {
        var type = kind.rawValue << 6
        if id > 0xFF { type |= 0x20 }
        let count = value.count
        switch count {
        case 0...7: type |= UInt8(count)
        case 8...0xFF: type |= 0b01 << 3
        case 0x100...0xFFFF: type |= 0b10 << 3
        default: type |= 0b11 << 3
        }
        out.append(type)
        if id > 0xFF { out.append(UInt8(id >> 8)) }
        out.append(UInt8(truncatingIfNeeded: id))
        let lengthBytes = Int((type >> 3) & 0x3)
        for shift in stride(from: (lengthBytes - 1) * 8, through: 0, by: -8) where lengthBytes > 0 {
            out.append(UInt8(truncatingIfNeeded: count >> shift))
        }
        out += value
    }

    /// A value's TLV bytes (§7.4.3, Appendix C): integers in the fewest of
    /// 1, 2, 4 or 8 bytes, floats in 4 bytes when exact, else 8.
    package static func bytes(_ value: LwM2MValue) -> [UInt8] {
        switch value {
        case .string(let text), .corelnk(let text): return Array(text.utf8)
        case .integer(let number), .time(let number): return signed(number)
        case .unsigned(let number):
            let width = number <= 0xFF ? 1 : number <= 0xFFFF ? 2 : number <= 0xFFFF_FFFF ? 4 : 8
            return (0..<width).reversed().map { UInt8(truncatingIfNeeded: number >> (UInt64($0) * 8)) }
        case .float(let number):
            if let single = Float(exactly: number) {
                return (0..<4).reversed().map { UInt8(truncatingIfNeeded: single.bitPattern >> (UInt32($0) * 8)) }
            }
            return (0..<8).reversed().map { UInt8(truncatingIfNeeded: number.bitPattern >> (UInt64($0) * 8)) }
        case .boolean(let flag): return [flag ? 1 : 0]
        case .opaque(let raw): return raw
        case .objlnk(let object, let instance):
            return [UInt8(object >> 8), UInt8(truncatingIfNeeded: object), UInt8(instance >> 8), UInt8(truncatingIfNeeded: instance)]
        }
    }

    private static func signed(_ number: Int64) -> [UInt8] {
        let width = Int64(Int8.min)...Int64(Int8.max) ~= number ? 1
            : Int64(Int16.min)...Int64(Int16.max) ~= number ? 2
            : Int64(Int32.min)...Int64(Int32.max) ~= number ? 4 : 8
        return (0..<width).reversed().map { UInt8(truncatingIfNeeded: number >> (Int64($0) * 8)) }
    }

    /// Reads raw TLV value bytes as `type`; nil when the length or content does not fit.
    package static func value(_ raw: [UInt8], as type: LwM2MResourceType) -> LwM2MValue? {
        func unsignedNumber() -> UInt64 { raw.reduce(0) { $0 << 8 | UInt64($1) } }
        switch type {
        case .string, .corelnk:
            guard let text = String(validating: raw, as: UTF8.self) else { return nil }
            return type == .string ? .string(text) : .corelnk(text)
        case .integer, .time:
            guard [1, 2, 4, 8].contains(raw.count) else { return nil }
            let shift = UInt64(64 - raw.count * 8)
            let number = Int64(bitPattern: unsignedNumber() << shift) >> Int64(shift)
            return type == .integer ? .integer(number) : .time(number)
        case .unsigned:
            guard [1, 2, 4, 8].contains(raw.count) else { return nil }
            return .unsigned(unsignedNumber())
        case .float:
            switch raw.count {
            case 4: return .float(Double(Float(bitPattern: UInt32(unsignedNumber()))))
            case 8: return .float(Double(bitPattern: unsignedNumber()))
            default: return nil
            }
        case .boolean:
            guard raw.count == 1, raw[0] <= 1 else { return nil }
            return .boolean(raw[0] == 1)
        case .opaque, .none:
            return .opaque(raw)
        case .objlnk:
            guard raw.count == 4 else { return nil }
            return .objlnk(objectId: UInt16(raw[0]) << 8 | UInt16(raw[1]), instanceId: UInt16(raw[2]) << 8 | UInt16(raw[3]))
        }
    }
}
