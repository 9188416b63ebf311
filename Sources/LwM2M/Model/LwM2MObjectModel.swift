import Foundation

/// One resource of an object model (LwM2M Core Appendix D: DDF fields that
/// matter to a server: id, name, operations, type, multiplicity, units).
package struct LwM2MResourceModel: Sendable, Codable, Equatable {
    package var id: UInt16
    package var name: String
    /// "R", "W", "RW", "E" or "".
    package var operations: String
    package var type: LwM2MResourceType
    package var multiple: Bool
    package var mandatory: Bool
    package var units: String?
    package var range: String?

    package init(
        id: UInt16, name: String, operations: String, type: LwM2MResourceType, multiple: Bool = false,
        mandatory: Bool = false, units: String? = nil, range: String? = nil
    ) {
        self.id = id
        self.name = name
        self.operations = operations
        self.type = type
        self.multiple = multiple
        self.mandatory = mandatory
        self.units = units
        self.range = range
    }

    package var isReadable: Bool { operations.contains("R") }
    package var isWritable: Bool { operations.contains("W") }
    package var isExecutable: Bool { operations.contains("E") }
}

/// One object model: the project's compact format (Sources/LwM2M/Models/README.md).
package struct LwM2MObjectModel: Sendable, Codable, Equatable {
    package var id: UInt16
    package var name: String
    package var version: String
    package var urn: String?
    package var multiple: Bool
    package var mandatory: Bool
    package var resources: [LwM2MResourceModel]

    package init(
        id: UInt16, name: String, version: String = "1.0", urn: String? = nil, multiple: Bool, mandatory: Bool = false,
        resources: [LwM2MResourceModel]
    ) {
        self.id = id
        self.name = name
        self.version = version
        self.urn = urn
        self.multiple = multiple
        self.mandatory = mandatory
        self.resources = resources
    }

    package func resource(_ id: UInt16) -> LwM2MResourceModel? {
        resources.first { $0.id == id }
    }
}

/// Why a model file could not be loaded.
package struct LwM2MModelError: Error, Sendable, CustomStringConvertible {
    package let file: String
    package let reason: String

    package init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    package var description: String { "\(file): \(reason)" }
}

/// The object models the server knows: the built-in OMA and IPSO objects,
/// plus LWM2M_MODELS_DIR (`*.json` in the project's format, `*.xml` in the
/// OMA registry's DDF format); a later definition of an id replaces an earlier one.
package final class LwM2MModelRegistry: Sendable {
    private let objects: [UInt16: LwM2MObjectModel]

    package init(_ models: [LwM2MObjectModel]) {
        var objects: [UInt16: LwM2MObjectModel] = [:]
        for model in models { objects[model.id] = model }
        self.objects = objects
    }

    /// The built-in models, and those of `directory` when given.
    package static func load(directory: String? = nil) throws(LwM2MModelError) -> LwM2MModelRegistry {
        var models = try LwM2MBuiltInModels.all()
        if let directory { models += try loadDirectory(directory) }
        return LwM2MModelRegistry(models)
    }

    package static func loadDirectory(_ directory: String) throws(LwM2MModelError) -> [LwM2MObjectModel] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw LwM2MModelError(file: directory, reason: "cannot list the directory: \(error.localizedDescription)")
        }
        var models: [LwM2MObjectModel] = []
        for name in names where name.hasSuffix(".json") || name.lowercased().hasSuffix(".xml") {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LwM2MModelError(file: path, reason: "cannot read the file")
            }
            if name.hasSuffix(".json") {
                models.append(try decodeJSON(data, file: path))
            } else {
                models += try LwM2MDDF.decode(data, file: path)
            }
        }
        return models
    }

    static func decodeJSON(_ data: Data, file: String) throws(LwM2MModelError) -> LwM2MObjectModel {
        do {
            return try JSONDecoder().decode(LwM2MObjectModel.self, from: data)
        } catch {
            throw LwM2MModelError(file: file, reason: "not an object model in the project's JSON format: \(error)")
        }
    }

    package var count: Int { objects.count }
    package var objectIds: [UInt16] { objects.keys.sorted() }

    package func object(_ id: UInt16) -> LwM2MObjectModel? { objects[id] }

    package func resource(_ path: LwM2MPath) -> LwM2MResourceModel? {
        guard let resourceId = path.resourceId else { return nil }
        return objects[path.objectId]?.resource(resourceId)
    }

    /// The type of a resource path, for the content formats' `types` argument.
    package func type(of path: LwM2MPath) -> LwM2MResourceType? {
        resource(path)?.type
    }
}
