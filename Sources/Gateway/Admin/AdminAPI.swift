import Auth
import Foundation
import Hummingbird
import Logging
import LwM2M
import NIOCore
import Processor
import ProcessorAPI

/// The admin API: device provisioning and attributes, for the operator's
/// backend. Every route is listed in `routes`, which both registers them and
/// lets a test check each one against docs/admin-openapi.json.
struct AdminAPI: Sendable {
    typealias Handler = @Sendable (AdminAPI, Request, AdminRequestContext) async -> Response

    struct Route: Sendable {
        let method: HTTPRequest.Method
        /// Hummingbird's form: `/api/devices/:id`.
        let path: String
        let handler: Handler

        /// The OpenAPI form: `/api/devices/{id}`.
        var openAPIPath: String {
            path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
                if segment == "**" { return "{path}" }
                return segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
            }.joined(separator: "/")
        }
    }

    let registry: DeviceRegistry
    /// Shared-attribute changes are pushed to the device's live sessions.
    let deviceSessions: DeviceSessions
    let persistentRPC: PersistentRPCService
    /// The LwM2M server for server pull (nil when LWM2M_ENABLED=false: those routes answer 503).
    let lwm2m: LwM2MServer?
    let maxPayloadSize: Int
    let logger: Logger

    /// Every route of the admin API; `makeRouter` registers exactly these and
    /// `tb-gateway config admin-routes` lists them for the OpenAPI test.
    static let routes: [Route] = [
        Route(method: .get, path: "/openapi.json") { _, _, _ in AdminResponses.json(.ok, AdminOpenAPI.document) },
        Route(method: .post, path: "/api/devices") { api, request, context in await api.createDevice(request, context) },
        Route(method: .get, path: "/api/devices") { api, request, _ in await api.listDevices(request) },
        Route(method: .get, path: "/api/devices/:id") { api, _, context in await api.showDevice(context) },
        Route(method: .patch, path: "/api/devices/:id") { api, request, context in await api.updateDevice(request, context) },
        Route(method: .delete, path: "/api/devices/:id") { api, _, context in await api.deleteDevice(context) },
        Route(method: .post, path: "/api/devices/:id/token") { api, request, context in await api.rotateToken(request, context) },
        Route(method: .get, path: "/api/devices/:id/attributes/:scope") { api, request, context in
            await api.readAttributes(request, context)
        },
        Route(method: .post, path: "/api/devices/:id/attributes/:scope") { api, request, context in
            await api.writeAttributes(request, context)
        },
        Route(method: .delete, path: "/api/devices/:id/attributes/:scope") { api, request, context in
            await api.deleteAttributes(request, context)
        },
        Route(method: .post, path: "/api/devices/:id/rpc") { api, request, context in await api.sendRPC(request, context) },
        Route(method: .get, path: "/api/rpc/:rpcId") { api, _, context in await api.showRPC(context) },
        Route(method: .get, path: "/api/devices/:id/lwm2m") { api, _, context in await api.lwm2mRegistration(context) },
        Route(method: .get, path: "/api/devices/:id/lwm2m-operations") { api, _, context in await api.lwm2mOperations(context) },
        Route(method: .get, path: "/api/devices/:id/lwm2m-operations/:operation") { api, _, context in await api.lwm2mOperations(context) },
        Route(method: .get, path: "/api/devices/:id/lwm2m/**") { api, request, context in await api.lwm2mOperation(.get, request, context) },
        Route(method: .put, path: "/api/devices/:id/lwm2m/**") { api, request, context in await api.lwm2mOperation(.put, request, context) },
        Route(method: .post, path: "/api/devices/:id/lwm2m/**") { api, request, context in await api.lwm2mOperation(.post, request, context) },
        Route(method: .delete, path: "/api/devices/:id/lwm2m/**") { api, request, context in await api.lwm2mOperation(.delete, request, context) },
    ]

    func makeRouter(apiKey: String, failures: AuthFailureThrottle, metrics: GatewayMetrics) -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: AdminAuthMiddleware(key: apiKey, failures: failures, metrics: metrics))
        for route in Self.routes {
            let handler = route.handler
            router.on(RouterPath(route.path), method: route.method) { [self] request, context in
                await handler(self, request, context)
            }
        }
        return router
    }

    // MARK: Request bodies

    struct CreateBody: Decodable { var name: String?; var type: String?; var token: String?; var lwm2mEndpoint: String? }
    struct UpdateBody: Decodable { var type: String?; var enabled: Bool?; var lwm2mEndpoint: String? }
    struct TokenBody: Decodable { var token: String? }

    /// Decodes a JSON body (an empty body is `{}`); a 400 names the field at fault.
    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws(ResponseFailure) -> T {
        guard let body = try? await request.body.collect(upTo: maxPayloadSize) else {
            throw ResponseFailure(AdminResponses.error(.contentTooLarge, "body larger than \(maxPayloadSize) bytes"))
        }
        let data = body.readableBytes == 0 ? Data("{}".utf8) : Data(body.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ResponseFailure(AdminResponses.error(.badRequest, "\(field) has the wrong type", field: field))
        } catch {
            throw ResponseFailure(AdminResponses.error(.badRequest, "body must be a JSON object"))
        }
    }

    func device(_ context: AdminRequestContext) async -> Result<Device, ResponseFailure> {
        let id = context.parameters.get("id") ?? ""
        do {
            guard let device = try await registry.device(id: id.lowercased()) else {
                return .failure(ResponseFailure(AdminResponses.error(.notFound, "no device with id \(id)")))
            }
            return .success(device)
        } catch {
            return .failure(ResponseFailure(AdminResponses.registryError(error)))
        }
    }

    private func scope(_ context: AdminRequestContext, writable: Bool) -> Result<Auth.AttributeScope, ResponseFailure> {
        let name = context.parameters.get("scope") ?? ""
        guard let scope = Auth.AttributeScope(rawValue: name) else {
            return .failure(ResponseFailure(AdminResponses.error(.notFound, "no attribute scope '\(name)'; expected client, shared or server")))
        }
        if writable, scope == .client {
            return .failure(ResponseFailure(AdminResponses.error(.badRequest, "client attributes are set by the device", field: "scope")))
        }
        return .success(scope)
    }

    // MARK: Handlers

    private func createDevice(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let body = try await decode(CreateBody.self, request)
            guard let name = body.name else {
                return AdminResponses.error(.badRequest, "name is required", field: "name")
            }
            let (device, issued) = try await registry.createDevice(name: name, type: body.type ?? "default", token: body.token)
            if let endpoint = body.lwm2mEndpoint {
                do {
                    try await registry.setLwM2MEndpoint(deviceId: device.id, endpoint: endpoint)
                } catch {
                    try? await registry.removeDevice(id: device.id)
                    throw error
                }
            }
            logger.info("device created", metadata: ["device_id": "\(device.id)", "name": "\(device.name)"])
            return AdminResponses.json(.created, AdminResponses.device(device, token: issued))
        }
    }

    private func listDevices(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        let offset = query.get("offset").map { Int($0) } ?? 0
        let limit = query.get("limit").map { Int($0) } ?? 100
        guard let offset, offset >= 0 else { return AdminResponses.error(.badRequest, "offset must be an integer >= 0", field: "offset") }
        guard let limit, (1...1000).contains(limit) else {
            return AdminResponses.error(.badRequest, "limit must be an integer from 1 to 1000", field: "limit")
        }
        do {
            let devices = try await registry.listDevices(offset: offset, limit: limit)
            let total = try await registry.deviceCount()
            let items = devices.map { AdminResponses.device($0) }.joined(separator: ",")
            return AdminResponses.json(.ok, #"{"devices":[\#(items)],"offset":\#(offset),"limit":\#(limit),"total":\#(total)}"#)
        } catch {
            return AdminResponses.registryError(error)
        }
    }

    private func showDevice(_ context: AdminRequestContext) async -> Response {
        switch await device(context) {
        case .success(let device): AdminResponses.json(.ok, AdminResponses.device(device))
        case .failure(let failure): failure.response
        }
    }

    private func updateDevice(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            let body = try await decode(UpdateBody.self, request)
            if let endpoint = body.lwm2mEndpoint {
                try await registry.setLwM2MEndpoint(deviceId: device.id, endpoint: endpoint.isEmpty ? nil : endpoint)
            }
            let updated = try await registry.updateDevice(id: device.id, type: body.type, enabled: body.enabled)
            return AdminResponses.json(.ok, AdminResponses.device(updated))
        }
    }

    private func deleteDevice(_ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            try await registry.removeDevice(id: device.id)
            logger.info("device removed", metadata: ["device_id": "\(device.id)"])
            return Response(status: .noContent)
        }
    }

    private func rotateToken(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            let body = try await decode(TokenBody.self, request)
            let token = try await registry.rotateToken(deviceId: device.id, token: body.token)
            logger.info("device token rotated", metadata: ["device_id": "\(device.id)"])
            return AdminResponses.json(.ok, AdminResponses.device(device, token: token))
        }
    }

    private func readAttributes(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            let scope = try self.scope(context, writable: false).get()
            let keys = request.uri.queryParameters.get("keys").map { $0.split(separator: ",").map(String.init) }
            let values = try await registry.attributes(deviceId: device.id, scope: scope, keys: keys)
            return AdminResponses.json(.ok, AdminResponses.attributes(values))
        }
    }

    private func writeAttributes(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            let scope = try self.scope(context, writable: true).get()
            guard let body = try? await request.body.collect(upTo: maxPayloadSize) else {
                return AdminResponses.error(.contentTooLarge, "body larger than \(maxPayloadSize) bytes")
            }
            let update: ThingsBoardPayload.AttributeUpdate
            do {
                update = try ThingsBoardPayload.parseAttributes(body, receivedAt: EpochClock.nowMilliseconds())
            } catch {
                return AdminResponses.error(.badRequest, "\(error)", field: "body")
            }
            try await registry.setAttributes(deviceId: device.id, scope: scope, update.values)
            if scope == .shared {
                deviceSessions.deliver(.sharedAttributesUpdated(json: String(buffer: update.entry.values)), to: device.id)
            }
            let stored = try await registry.attributes(deviceId: device.id, scope: scope)
            return AdminResponses.json(.ok, AdminResponses.attributes(stored))
        }
    }

    private func deleteAttributes(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            let scope = try self.scope(context, writable: true).get()
            let keys = request.uri.queryParameters.get("keys").map { $0.split(separator: ",").map(String.init) } ?? []
            guard !keys.isEmpty else { return AdminResponses.error(.badRequest, "keys is required", field: "keys") }
            let deleted = try await registry.deleteAttributes(deviceId: device.id, scope: scope, keys: keys)
            if scope == .shared, !deleted.isEmpty {
                deviceSessions.deliver(.sharedAttributesDeleted(keys: deleted), to: device.id)
            }
            return AdminResponses.json(.ok, #"{"deleted":["# + deleted.map(JSONEscaping.quoted).joined(separator: ",") + "]}")
        }
    }
}

/// An early answer carried through `Result` and `throws`.
struct ResponseFailure: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

extension AdminAPI {
    /// Runs a handler body; an early answer, a registry error or anything
    /// else becomes the matching JSON error response.
    func handle(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let failure as ResponseFailure {
            return failure.response
        } catch let error as RegistryError {
            return AdminResponses.registryError(error)
        } catch {
            return AdminResponses.error(.internalServerError, "\(error)")
        }
    }
}

extension AdminAPI {
    /// Server-side RPC: `{"method":"…","params":…,"timeout":ms,"oneway":bool}`
    /// is handed to every live session of the device that carries RPC (an
    /// MQTT client subscribed to `v1/devices/me/rpc/request/+`, a CoAP
    /// observer of `/rpc`, an HTTP long-poll of `/rpc`). Two-way (the
    /// default) waits for the device's reply and returns it; 504 without
    /// one. The reply also travels to the RPC topic like any uplink.
    fileprivate func sendRPC(_ request: Request, _ context: AdminRequestContext) async -> Response {
        await handle {
            let device = try await self.device(context).get()
            guard let body = try? await request.body.collect(upTo: maxPayloadSize) else {
                return AdminResponses.error(.contentTooLarge, "body larger than \(maxPayloadSize) bytes")
            }
            let fields: ThingsBoardPayload.AttributeUpdate
            do {
                fields = try ThingsBoardPayload.parseAttributes(body, receivedAt: 0)
            } catch {
                return AdminResponses.error(.badRequest, "\(error)", field: "body")
            }
            guard let methodJSON = fields.values.first(where: { $0.key == "method" })?.json,
                let method = try? JSONDecoder().decode(String.self, from: Data(methodJSON.utf8)), !method.isEmpty
            else {
                return AdminResponses.error(.badRequest, "method must be a non-empty string", field: "method")
            }
            let params = fields.values.first { $0.key == "params" }?.json ?? "{}"
            let oneway = fields.values.first { $0.key == "oneway" }?.json == "true"
            var timeout = Duration.seconds(10)
            if let text = fields.values.first(where: { $0.key == "timeout" })?.json {
                guard let milliseconds = Int(text), (1...300_000).contains(milliseconds) else {
                    return AdminResponses.error(.badRequest, "timeout must be 1 to 300000 milliseconds", field: "timeout")
                }
                timeout = .milliseconds(milliseconds)
            }
            if fields.values.first(where: { $0.key == "persistent" })?.json == "true" {
                var expiresAt = EpochClock.nowMilliseconds() + 86_400_000
                if let text = fields.values.first(where: { $0.key == "expirationTime" })?.json {
                    guard let value = Int64(text), value > EpochClock.nowMilliseconds() else {
                        return AdminResponses.error(.badRequest, "expirationTime must be a future time in ms since the epoch", field: "expirationTime")
                    }
                    expiresAt = value
                }
                let rpc = try await persistentRPC.submit(
                    deviceId: device.id, method: method, params: params, timeout: timeout, expiresAt: expiresAt)
                return AdminResponses.json(.ok, rpc.json)
            }
            let id = deviceSessions.nextRPCIdentifier()
            if !oneway { deviceSessions.expectReply(deviceId: device.id, id: id) }
            let sessions = deviceSessions.deliver(.rpcRequest(id: id, method: method, params: params), to: device.id)
            guard sessions > 0 else {
                if !oneway { deviceSessions.forgetReply(deviceId: device.id, id: id) }
                return AdminResponses.error(.conflict, "device \(device.id) is offline: it has no live session that carries RPC")
            }
            if oneway {
                return AdminResponses.json(.ok, #"{"id":\#(id),"sessions":\#(sessions)}"#)
            }
            guard let reply = await deviceSessions.awaitReply(deviceId: device.id, id: id, timeout: timeout) else {
                return AdminResponses.error(.gatewayTimeout, "device \(device.id) did not answer RPC \(id) (\(method)) within \(timeout)")
            }
            return AdminResponses.json(.ok, #"{"id":\#(id),"response":"# + reply + "}")
        }
    }
}

extension AdminAPI {
    /// `GET /api/rpc/{rpcId}`: a persistent RPC and its state.
    fileprivate func showRPC(_ context: AdminRequestContext) async -> Response {
        await handle {
            let text = context.parameters.get("rpcId") ?? ""
            guard let id = Int(text), let rpc = try await registry.persistentRPC(id: id) else {
                return AdminResponses.error(.notFound, "no persistent RPC \(text)")
            }
            return AdminResponses.json(.ok, rpc.json)
        }
    }
}
