import Foundation

/// Where a resource of a device's object instance takes its value from.
package enum LwM2MClientSource: Sendable, Equatable {
    /// The latest value of a telemetry key or client attribute; a Write
    /// becomes a shared-attribute update of this key.
    case key(String)
    case deviceName
    case deviceType
    /// Every latest value as one JSON object.
    case latestValues
    /// When the latest value arrived (seconds since the epoch).
    case lastUpdate
    /// Writable only: a JSON object written becomes shared attributes.
    case sharedAttributes
    /// Executable only: a one-way RPC named after the resource.
    case rpc
}

/// One resource of the object a device type is exposed as.
package struct LwM2MClientResource: Sendable, Equatable {
    package var id: UInt16
    package var name: String
    package var type: LwM2MResourceType
    /// "R", "W", "RW", "E" as in the object model.
    package var operations: String
    package var source: LwM2MClientSource

    package var isReadable: Bool { operations.contains("R") }
    package var isWritable: Bool { operations.contains("W") }
    package var isExecutable: Bool { operations.contains("E") }
}

/// The object one device type is exposed as, and its resources.
package struct LwM2MClientObjectType: Sendable, Equatable {
    package var objectId: UInt16
    package var resources: [LwM2MClientResource]

    package func resource(_ id: UInt16) -> LwM2MClientResource? {
        resources.first { $0.id == id }
    }
}

/// LWM2M_CLIENT_MAPPING: per device type, which object represents the type
/// and which resource carries which telemetry key or attribute. Types not
/// in the file are exposed as the vendor object 26241 (in the private range
/// of the OMA object registry) with their latest values.
package struct LwM2MClientMapping: Sendable {
    package var byDeviceType: [String: LwM2MClientObjectType]

    /// The default object: name, type, every latest value as JSON, when it
    /// arrived; a writable JSON object of shared attributes; an executable
    /// resource that becomes the RPC `execute`.
    package static let defaultObjectId: UInt16 = 26241
    package static let defaultObject = LwM2MClientObjectType(objectId: defaultObjectId, resources: [
        LwM2MClientResource(id: 0, name: "Device Name", type: .string, operations: "R", source: .deviceName),
        LwM2MClientResource(id: 1, name: "Device Type", type: .string, operations: "R", source: .deviceType),
        LwM2MClientResource(id: 2, name: "Latest Values", type: .string, operations: "R", source: .latestValues),
        LwM2MClientResource(id: 3, name: "Last Update", type: .time, operations: "R", source: .lastUpdate),
        LwM2MClientResource(id: 4, name: "Shared Attributes", type: .string, operations: "W", source: .sharedAttributes),
        LwM2MClientResource(id: 5, name: "execute", type: .none, operations: "E", source: .rpc),
    ])

    package init(_ byDeviceType: [String: LwM2MClientObjectType] = [:]) {
        self.byDeviceType = byDeviceType
    }

    package func object(deviceType: String) -> LwM2MClientObjectType {
        byDeviceType[deviceType] ?? Self.defaultObject
    }

    /// The file's shape: `{"thermostat":{"object":3303,"resources":{"5700":
    /// {"key":"temperature"},"5750":{"key":"label","type":"string",
    /// "operations":"RW"},"4":{"name":"reboot","operations":"E"}}}}`. Type,
    /// operations and name default to the object model's, when the object
    /// is known.
    private struct FileType: Decodable {
        struct FileResource: Decodable {
            var key: String?
            var name: String?
            var type: LwM2MResourceType?
            var operations: String?
        }
        var object: UInt16
        var resources: [String: FileResource]
    }

    /// Reads the mapping file; a missing file is the default mapping only.
    package static func load(path: String, models: LwM2MModelRegistry) throws(LwM2MModelError) -> LwM2MClientMapping {
        guard let data = FileManager.default.contents(atPath: path) else { return LwM2MClientMapping() }
        let file: [String: FileType]
        do {
            file = try JSONDecoder().decode([String: FileType].self, from: data)
        } catch {
            throw LwM2MModelError(file: path, reason: "not a mapping object: \(error)")
        }
        var types: [String: LwM2MClientObjectType] = [:]
        for (deviceType, entry) in file {
            guard entry.object != defaultObjectId else {
                throw LwM2MModelError(file: path, reason: "\(deviceType): object \(defaultObjectId) is the default object")
            }
            let model = models.object(entry.object)
            var resources: [LwM2MClientResource] = []
            for (text, resource) in entry.resources {
                guard let id = UInt16(text) else { throw LwM2MModelError(file: path, reason: "\(deviceType): resource id \(text) is not a number") }
                let known = model?.resource(id)
                let operations = (resource.operations ?? known?.operations ?? "R").uppercased()
                guard !operations.isEmpty, operations.allSatisfy({ "RWE".contains($0) }), !(operations.contains("E") && operations != "E") else {
                    throw LwM2MModelError(file: path, reason: "\(deviceType)/\(id): operations must be R, W, RW or E")
                }
                let name = resource.name ?? known?.name ?? resource.key ?? "resource \(id)"
                let source: LwM2MClientSource
                if operations == "E" {
                    source = .rpc
                } else if let key = resource.key {
                    source = .key(key)
                } else {
                    throw LwM2MModelError(file: path, reason: "\(deviceType)/\(id): a readable or writable resource needs a key")
                }
                resources.append(LwM2MClientResource(
                    id: id, name: name, type: operations == "E" ? .none : resource.type ?? known?.type ?? .string,
                    operations: operations, source: source))
            }
            types[deviceType] = LwM2MClientObjectType(objectId: entry.object, resources: resources.sorted { $0.id < $1.id })
        }
        return LwM2MClientMapping(types)
    }
}
