import Auth
import CoAPCodec
import Foundation
import Hummingbird
import LwM2M
import NIOCore
import ProcessorAPI

/// Server pull: LwM2M operations on a registered device through the admin
/// API (`/api/devices/{id}/lwm2m/{path}[/observe|/execute|/discover|/attributes]`).
extension AdminAPI {
    func lwm2mRegistration(_ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            guard let lwm2m else { return Self.lwm2mDisabled }
            guard let registration = lwm2m.registrations.registration(deviceId: device.id) else {
                return AdminResponses.error(.notFound, "device \(device.id) is not registered with the LwM2M server")
            }
            return AdminResponses.json(.ok, registration.json)
        }
    }

    static var lwm2mDisabled: Response {
        AdminResponses.error(.serviceUnavailable, "the LwM2M server is not running (LWM2M_ENABLED=false)")
    }

    enum LwM2MAction: String { case observe, execute, discover, attributes }

    func lwm2mOperation(_ method: HTTPRequest.Method, _ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            guard let lwm2m else { return Self.lwm2mDisabled }
            var segments = context.parameters.getCatchAll().map(String.init)
            let action = segments.last.flatMap(LwM2MAction.init(rawValue:))
            if action != nil { segments.removeLast() }
            guard let path = LwM2MPath(segments: segments) else {
                return AdminResponses.error(.badRequest, "'/\(segments.joined(separator: "/"))' is not an LwM2M path", field: "path")
            }
            let query = request.uri.queryParameters
            var timeout: Duration?
            if let text = query.get("timeout") {
                guard let milliseconds = Int(text), (1...300_000).contains(milliseconds) else {
                    return AdminResponses.error(.badRequest, "timeout must be 1 to 300000 milliseconds", field: "timeout")
                }
                timeout = .milliseconds(milliseconds)
            }
            let format = try Self.format(query.get("format")).get()
            if lwm2m.isSleeping(deviceId: device.id) {
                return try await queue(method, action, path: path, format: format, request: request, device: device, lwm2m: lwm2m)
            }
            do {
                switch (method, action) {
                case (.get, nil):
                    let result = try await lwm2m.read(deviceId: device.id, path: path, format: format, timeout: timeout)
                    return AdminResponses.json(.ok, result.json)
                case (.get, .discover):
                    let links = try await lwm2m.discover(deviceId: device.id, path: path, timeout: timeout)
                    return AdminResponses.json(.ok, #"{"path":"# + JSONEscaping.quoted(path.description) + #","links":"# + JSONEscaping.quoted(CoRELinkFormat.encode(links)) + "}")
                case (.put, nil), (.post, nil):
                    let nodes = try await Self.nodes(request, path: path, models: lwm2m.models, maxPayloadSize: maxPayloadSize).get()
                    if method == .post, path.isObject {
                        try await lwm2m.create(deviceId: device.id, path: path, nodes: nodes, timeout: timeout)
                    } else {
                        try await lwm2m.write(
                            deviceId: device.id, path: path, nodes: nodes, replace: method == .put,
                            format: format ?? LwM2MTLV.contentFormat, timeout: timeout)
                    }
                    return Self.done(path, "written")
                case (.put, .attributes):
                    let attributes = try await Self.attributes(request, maxPayloadSize: maxPayloadSize).get()
                    try await lwm2m.writeAttributes(deviceId: device.id, path: path, query: attributes, timeout: timeout)
                    return Self.done(path, "attributes written")
                case (.post, .execute):
                    let arguments = (try? await request.body.collect(upTo: maxPayloadSize)).map { String(buffer: $0) } ?? ""
                    try await lwm2m.execute(deviceId: device.id, path: path, arguments: arguments, timeout: timeout)
                    return Self.done(path, "executed")
                case (.post, .observe):
                    let result = try await lwm2m.observe(deviceId: device.id, path: path, format: format, timeout: timeout)
                    return AdminResponses.json(.ok, result.json)
                case (.delete, .observe):
                    try await lwm2m.cancelObservation(deviceId: device.id, path: path)
                    return Self.done(path, "observation cancelled")
                case (.delete, nil):
                    try await lwm2m.delete(deviceId: device.id, path: path, timeout: timeout)
                    return Self.done(path, "deleted")
                default:
                    return AdminResponses.error(.methodNotAllowed, "\(method) is not an LwM2M operation on \(action.map { "…/\($0.rawValue)" } ?? "a path")")
                }
            } catch let error as LwM2MOperationError {
                return Self.response(error)
            }
        }
    }

    /// Queue mode: the device sleeps, so the operation is stored and sent
    /// when it next registers or updates; 202 with the operation.
    private func queue(
        _ method: HTTPRequest.Method, _ action: LwM2MAction?, path: LwM2MPath, format: UInt32?, request: Request, device: Device,
        lwm2m: LwM2MServer
    ) async throws -> Response {
        let queued: LwM2MRequest
        do {
            switch (method, action) {
            case (.get, nil): queued = .read(path, format: format)
            case (.get, .discover): queued = .discover(path)
            case (.put, nil), (.post, nil):
                let nodes = try await Self.nodes(request, path: path, models: lwm2m.models, maxPayloadSize: maxPayloadSize).get()
                queued = method == .post && path.isObject
                    ? try .create(path, nodes: nodes)
                    : try .write(path, nodes: nodes, replace: method == .put, format: format ?? LwM2MTLV.contentFormat)
            case (.put, .attributes):
                queued = try .writeAttributes(path, query: try await Self.attributes(request, maxPayloadSize: maxPayloadSize).get())
            case (.post, .execute):
                let arguments = (try? await request.body.collect(upTo: maxPayloadSize)).map { String(buffer: $0) } ?? ""
                queued = try .execute(path, arguments: arguments)
            case (.delete, nil): queued = try .delete(path)
            default:
                return AdminResponses.error(.conflict, "device \(device.id) is asleep (queue mode); observations start while it is awake")
            }
            let operation = try await lwm2m.enqueue(queued, deviceId: device.id)
            return AdminResponses.json(.accepted, operation.json)
        } catch let error as LwM2MOperationError {
            return Self.response(error)
        }
    }

    /// `GET /api/devices/{id}/lwm2m-operations[/{operation}]`: queued operations and their status.
    func lwm2mOperations(_ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            if let text = context.parameters.get("operation") {
                guard let id = Int64(text), let operation = try await registry.operation(id: id), operation.deviceId == device.id else {
                    return AdminResponses.error(.notFound, "no queued operation \(text) for device \(device.id)")
                }
                return AdminResponses.json(.ok, operation.json)
            }
            let operations = try await registry.operations(deviceId: device.id)
            return AdminResponses.json(.ok, #"{"operations":["# + operations.map(\.json).joined(separator: ",") + "]}")
        }
    }

    static func done(_ path: LwM2MPath, _ what: String) -> Response {
        AdminResponses.json(.ok, #"{"path":"# + JSONEscaping.quoted(path.description) + #","result":"# + JSONEscaping.quoted(what) + "}")
    }

    static func response(_ error: LwM2MOperationError) -> Response {
        switch error {
        case .notRegistered: AdminResponses.error(.notFound, error.description)
        case .timeout: AdminResponses.error(.gatewayTimeout, error.description)
        case .invalid: AdminResponses.error(.badRequest, error.description)
        case .unreachable, .badAnswer: AdminResponses.error(.badGateway, error.description)
        case .rejected(let code, _):
            switch code {
            case .notFound: AdminResponses.error(.notFound, error.description)
            case .methodNotAllowed: AdminResponses.error(.methodNotAllowed, error.description)
            case .badRequest: AdminResponses.error(.badRequest, error.description)
            case .unauthorized, .forbidden: AdminResponses.error(.forbidden, error.description)
            case .notAcceptable: AdminResponses.error(.notAcceptable, error.description)
            case .unsupportedContentFormat: AdminResponses.error(.unsupportedMediaType, error.description)
            default: AdminResponses.error(.badGateway, error.description)
            }
        }
    }

    /// `?format=` by name or number.
    static func format(_ text: String?) -> Result<UInt32?, ResponseFailure> {
        guard let text else { return .success(nil) }
        let names: [String: UInt32] = [
            "text": LwM2MPlainText.contentFormat, "opaque": LwM2MOpaque.contentFormat, "tlv": LwM2MTLV.contentFormat,
            "json": LwM2MJSON.contentFormat, "senml-json": SenMLJSON.contentFormat, "senml-cbor": SenMLCBOR.contentFormat,
        ]
        if let format = names[text.lowercased()] ?? UInt32(text), LwM2MContentFormat.supported.contains(format) {
            return .success(format)
        }
        return .failure(ResponseFailure(AdminResponses.error(
            .badRequest, "format must be one of text, opaque, tlv, json, senml-json, senml-cbor (or their numbers)", field: "format")))
    }

    /// A write body: `{"value":…}` for a resource, `{"values":{"5750":…,"11":{"0":…}}}` for an instance.
    static func nodes(_ request: Request, path: LwM2MPath, models: LwM2MModelRegistry, maxPayloadSize: Int) async -> Result<[LwM2MNode], ResponseFailure> {
        func failure(_ message: String) -> Result<[LwM2MNode], ResponseFailure> {
            .failure(ResponseFailure(AdminResponses.error(.badRequest, message, field: "body")))
        }
        guard let body = try? await request.body.collect(upTo: maxPayloadSize),
            let object = try? JSONDecoder().decode([String: LwM2MJSONValue].self, from: Data(body.readableBytesView))
        else { return failure(#"body must be {"value":…} or {"values":{"resourceId":…}}"#) }
        var nodes: [LwM2MNode] = []
        func add(_ json: LwM2MJSONValue, at target: LwM2MPath) -> Bool {
            if case .object(let instances) = json, target.isResource {
                for (key, value) in instances {
                    guard let id = UInt16(key), let child = target.appending(id) else { return false }
                    guard let converted = value.value(as: models.type(of: target)) else { return false }
                    nodes.append(LwM2MNode(child, converted))
                }
                return true
            }
            guard let converted = json.value(as: models.type(of: target)) else { return false }
            nodes.append(LwM2MNode(target, converted))
            return true
        }
        if let value = object["value"], path.isResource || path.isResourceInstance {
            guard add(value, at: path) else { return failure("value does not fit \(path)") }
        } else if case .object(let values)? = object["values"], path.isInstance || path.isObject {
            let instance = path.isInstance ? path : LwM2MPath(path.objectId, 0)
            for (key, value) in values {
                guard let id = UInt16(key), let target = instance.appending(id), add(value, at: target) else {
                    return failure("values.\(key) does not fit \(instance)")
                }
            }
        } else {
            return failure(#"a resource path takes {"value":…}, an instance {"values":{…}}"#)
        }
        return .success(nodes)
    }

    /// `{"pmin":1,"pmax":10,"gt":30}` as Write-Attributes query items.
    static func attributes(_ request: Request, maxPayloadSize: Int) async -> Result<[String], ResponseFailure> {
        guard let body = try? await request.body.collect(upTo: maxPayloadSize),
            let object = try? JSONDecoder().decode([String: LwM2MJSONValue].self, from: Data(body.readableBytesView)),
            !object.isEmpty
        else {
            return .failure(ResponseFailure(AdminResponses.error(.badRequest, #"body must be like {"pmin":1,"pmax":10}"#, field: "body")))
        }
        var items: [String] = []
        for (name, value) in object.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .integer(let number): items.append("\(name)=\(number)")
            case .number(let number): items.append("\(name)=\(number)")
            default:
                return .failure(ResponseFailure(AdminResponses.error(.badRequest, "\(name) must be a number", field: name)))
            }
        }
        return .success(items)
    }
}

/// A JSON value of a write body, converted to the resource's type.
enum LwM2MJSONValue: Decodable {
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case object([String: LwM2MJSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            self = .boolean(flag)
        } else if let integer = try? container.decode(Int64.self) {
            self = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else {
            self = .object(try container.decode([String: LwM2MJSONValue].self))
        }
    }

    func value(as type: LwM2MResourceType?) -> LwM2MValue? {
        let natural: LwM2MValue
        switch self {
        case .boolean(let flag): natural = .boolean(flag)
        case .integer(let number): natural = .integer(number)
        case .number(let number): natural = .float(number)
        case .string(let text):
            guard let type, type != .string else { return .string(text) }
            return LwM2MPlainText.value(text, as: type)
        case .object: return nil
        }
        guard let type, type != .none else { return natural }
        return natural.converted(to: type)
    }
}
