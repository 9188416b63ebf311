/// An LwM2M path: `/O`, `/O/I`, `/O/I/R` or `/O/I/R/RI` (OMA LwM2M Core
/// §6.1, identifiers 0–65534; 65535 is reserved).
package struct LwM2MPath: Hashable, Comparable, Sendable, CustomStringConvertible {
    package let objectId: UInt16
    package let instanceId: UInt16?
    package let resourceId: UInt16?
    package let resourceInstanceId: UInt16?

    package init(_ objectId: UInt16, _ instanceId: UInt16? = nil, _ resourceId: UInt16? = nil, _ resourceInstanceId: UInt16? = nil) {
        precondition(instanceId != nil || resourceId == nil, "a resource needs an instance")
        precondition(resourceId != nil || resourceInstanceId == nil, "a resource instance needs a resource")
        self.objectId = objectId
        self.instanceId = instanceId
        self.resourceId = resourceId
        self.resourceInstanceId = resourceInstanceId
    }

    /// Parses `/3/0/5700`, `3/0/5700` or the Uri-Path segments; nil for anything else.
    package init?(_ text: some StringProtocol) {
        let trimmed = text.hasPrefix("/") ? Substring(text.dropFirst()) : Substring(text)
        var segments = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        if segments.last?.isEmpty == true, segments.count > 1 { segments.removeLast() }  // "/3/0/" from a base name
        self.init(segments: segments.map(String.init))
    }

    package init?(segments: [String]) {
        guard (1...4).contains(segments.count) else { return nil }
        var ids: [UInt16] = []
        for segment in segments {
            guard !segment.isEmpty, segment.count <= 5, segment.allSatisfy(\.isASCII), let id = UInt16(segment), id != .max else {
                return nil
            }
            ids.append(id)
        }
        self.init(ids[0], ids.count > 1 ? ids[1] : nil, ids.count > 2 ? ids[2] : nil, ids.count > 3 ? ids[3] : nil)
    }

    package var components: [UInt16] {
        [objectId] + [instanceId, resourceId, resourceInstanceId].compactMap { $0 }
    }

    package var depth: Int { components.count }
    package var isObject: Bool { instanceId == nil }
    package var isInstance: Bool { instanceId != nil && resourceId == nil }
    package var isResource: Bool { resourceId != nil && resourceInstanceId == nil }
    package var isResourceInstance: Bool { resourceInstanceId != nil }

    /// `/3/0/5700`
    package var description: String { "/" + components.map(String.init).joined(separator: "/") }
    /// `3/0/5700`, the default telemetry key.
    package var key: String { components.map(String.init).joined(separator: "/") }
    package var uriPath: [String] { components.map(String.init) }

    /// This path with one more identifier.
    package func appending(_ id: UInt16) -> LwM2MPath? {
        switch depth {
        case 1: LwM2MPath(objectId, id)
        case 2: LwM2MPath(objectId, instanceId, id)
        case 3: LwM2MPath(objectId, instanceId, resourceId, id)
        default: nil
        }
    }

    /// The resource this path names or lies in (drops a resource instance id).
    package var resourcePath: LwM2MPath? {
        guard let resourceId else { return nil }
        return LwM2MPath(objectId, instanceId, resourceId)
    }

    /// True when `other` is this path or lies below it.
    package func contains(_ other: LwM2MPath) -> Bool {
        other.components.starts(with: components)
    }

    package static func < (lhs: LwM2MPath, rhs: LwM2MPath) -> Bool {
        lhs.components.lexicographicallyPrecedes(rhs.components)
    }
}
