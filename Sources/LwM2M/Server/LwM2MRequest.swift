import CoAPCodec
import Foundation

/// One device management request as it goes on the wire: what a queued
/// operation stores (Codable, so it survives a restart in the registry).
package struct LwM2MRequest: Sendable, Codable, Equatable {
    /// read, write, execute, discover, write-attributes, create, delete.
    package var operation: String
    package var path: String
    package var code: UInt8
    package var query: [String] = []
    package var contentFormat: UInt32?
    package var accept: UInt32?
    package var payload: [UInt8] = []

    var lwm2mPath: LwM2MPath? { LwM2MPath(path) }

    package static func read(_ path: LwM2MPath, format: UInt32?) -> LwM2MRequest {
        LwM2MRequest(operation: "read", path: path.description, code: CoAPCode.get.rawValue, accept: format)
    }

    package static func discover(_ path: LwM2MPath) -> LwM2MRequest {
        LwM2MRequest(operation: "discover", path: path.description, code: CoAPCode.get.rawValue, accept: CoRELinkFormat.contentFormat)
    }

    package static func write(
        _ path: LwM2MPath, nodes: [LwM2MNode], replace: Bool, format: UInt32
    ) throws(LwM2MOperationError) -> LwM2MRequest {
        guard let payload = LwM2MContentFormat.encode(nodes, format: format, path: path) else {
            throw .invalid("content format \(format) cannot carry \(nodes.count) values")
        }
        return LwM2MRequest(
            operation: "write", path: path.description, code: (replace ? CoAPCode.put : CoAPCode.post).rawValue,
            contentFormat: format, payload: payload)
    }

    package static func execute(_ path: LwM2MPath, arguments: String) throws(LwM2MOperationError) -> LwM2MRequest {
        guard path.isResource else { throw .invalid("execute needs a resource path, not \(path)") }
        return LwM2MRequest(operation: "execute", path: path.description, code: CoAPCode.post.rawValue, payload: Array(arguments.utf8))
    }

    package static func writeAttributes(_ path: LwM2MPath, query: [String]) throws(LwM2MOperationError) -> LwM2MRequest {
        let allowed = Set(["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "con", "edge", "hqmax"])
        for item in query {
            let name = String(item.split(separator: "=", maxSplits: 1).first ?? "")
            guard allowed.contains(name) else { throw .invalid("'\(name)' is not a notification attribute") }
        }
        return LwM2MRequest(operation: "write-attributes", path: path.description, code: CoAPCode.put.rawValue, query: query)
    }

    package static func create(_ path: LwM2MPath, nodes: [LwM2MNode]) throws(LwM2MOperationError) -> LwM2MRequest {
        guard path.isObject else { throw .invalid("create needs an object path, not \(path)") }
        guard !nodes.isEmpty, nodes.allSatisfy({ $0.path.objectId == path.objectId && $0.path.instanceId != nil }) else {
            throw .invalid("create needs the new instance's values under \(path)")
        }
        return LwM2MRequest(
            operation: "create", path: path.description, code: CoAPCode.post.rawValue, contentFormat: LwM2MTLV.contentFormat,
            payload: LwM2MTLV.encode(nodes, base: LwM2MPath(path.objectId)))
    }

    package static func delete(_ path: LwM2MPath) throws(LwM2MOperationError) -> LwM2MRequest {
        guard path.isInstance else { throw .invalid("delete needs an object instance path, not \(path)") }
        return LwM2MRequest(operation: "delete", path: path.description, code: CoAPCode.delete.rawValue)
    }

    package var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    package init(
        operation: String, path: String, code: UInt8, query: [String] = [], contentFormat: UInt32? = nil, accept: UInt32? = nil,
        payload: [UInt8] = []
    ) {
        self.operation = operation
        self.path = path
        self.code = code
        self.query = query
        self.contentFormat = contentFormat
        self.accept = accept
        self.payload = payload
    }

    package init?(json: String) {
        guard let decoded = try? JSONDecoder().decode(LwM2MRequest.self, from: Data(json.utf8)) else { return nil }
        self = decoded
    }
}
