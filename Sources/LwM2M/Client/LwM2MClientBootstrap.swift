import CoAPCodec
import CoAPEndpoint
import NIOCore

/// The server account a bootstrap server gave the client (Core §6.1):
/// from the Security instance that is not the bootstrap server's, and the
/// Server instance with the same Short Server ID.
package struct LwM2MServerAccount: Sendable, Equatable {
    package var host: String
    package var port: Int
    package var shortServerId: Int64
    package var lifetime: Duration?
    package var binding: String?
}

/// What a bootstrap server writes while the client is in bootstrap mode:
/// Security (0) and Server (1) instances, resource by resource.
struct LwM2MBootstrapSession {
    var security: [UInt16: [UInt16: LwM2MValue]] = [:]
    var server: [UInt16: [UInt16: LwM2MValue]] = [:]
    /// Told the outcome at Bootstrap-Finish.
    let finished: @Sendable (Result<LwM2MServerAccount, LwM2MContentError>) -> Void

    /// Bootstrap-Delete (Core §6.1.7.5): `/`, an object or an instance of 0 or 1.
    mutating func delete(_ path: LwM2MPath?) {
        guard let path else {
            security = [:]
            server = [:]
            return
        }
        switch (path.objectId, path.instanceId) {
        case (0, nil): security = [:]
        case (1, nil): server = [:]
        case (0, let instance?): security[instance] = nil
        case (1, let instance?): server[instance] = nil
        default: break
        }
    }

    mutating func write(_ nodes: [LwM2MNode]) {
        for node in nodes {
            guard let instance = node.path.instanceId, let resource = node.path.resourceId else { continue }
            if node.path.objectId == 0 { security[instance, default: [:]][resource] = node.value }
            if node.path.objectId == 1 { server[instance, default: [:]][resource] = node.value }
        }
    }

    /// Bootstrap-Finish: the one LwM2M server account in what was written.
    func account() -> Result<LwM2MServerAccount, LwM2MContentError> {
        let servers = security.values.filter { $0[1] != .boolean(true) }
        guard let entry = servers.first, servers.count == 1 else {
            return .failure(LwM2MContentError("bootstrap", "\(servers.count) LwM2M server accounts written; the gateway takes exactly one"))
        }
        guard case .string(let uri)? = entry[0], let (host, port) = LwM2MClientConfiguration.parseServerURI(uri) else {
            return .failure(LwM2MContentError("bootstrap", "the server URI (/0/x/0) is not coap://host[:port]"))
        }
        guard entry[2] == nil || entry[2] == .integer(3) else {
            return .failure(LwM2MContentError("bootstrap", "security mode \(entry[2]!) is not NoSec (3), the one built"))
        }
        guard case .integer(let shortServerId)? = entry[10] else {
            return .failure(LwM2MContentError("bootstrap", "the Short Server ID (/0/x/10) is missing"))
        }
        let settings = server.values.first { $0[0] == .integer(shortServerId) }
        var lifetime: Duration?
        if let value = settings?[1], case .unsigned(let seconds)? = value.converted(to: .unsigned), seconds > 0 {
            lifetime = .seconds(Int64(clamping: seconds))
        }
        var binding: String?
        if case .string(let text)? = settings?[7] { binding = text }
        return .success(LwM2MServerAccount(host: host, port: port, shortServerId: shortServerId, lifetime: lifetime, binding: binding))
    }
}

extension LwM2MClientHandler {
    /// Requests while a bootstrap server configures the client (Core §6.1):
    /// Delete, Write of Security and Server, Discover of `/`, Finish.
    func handleBootstrap(_ exchange: CoAPServerExchange, _ session: inout LwM2MBootstrapSession) {
        let request = exchange.request
        let segments = request.uriPath
        if request.code == .post, segments == ["bs"] {
            let outcome = session.account()
            switch outcome {
            case .success: exchange.respond(CoAPResponse(code: .changed))
            case .failure(let error): exchange.respond(CoAPResponse(code: .notAcceptable, text: error.description))
            }
            session.finished(outcome)
            return
        }
        let path = segments.isEmpty ? nil : LwM2MPath(segments: segments)
        guard segments.isEmpty || path != nil else { return exchange.respond(CoAPResponse(code: .notFound)) }
        switch request.code {
        case .delete:
            session.delete(path)
            exchange.respond(CoAPResponse(code: .deleted))
        case .put, .post:
            guard let path, path.objectId <= 1, path.instanceId != nil else {
                return exchange.respond(CoAPResponse(code: .methodNotAllowed, text: "bootstrap writes Security (0) and Server (1) instances"))
            }
            do {
                let nodes = try LwM2MContentFormat.decode(
                    Array(request.payload.readableBytesView), format: request.contentFormat, path: path,
                    types: { [models] in models.type(of: $0) })
                session.write(nodes)
                exchange.respond(CoAPResponse(code: .changed))
            } catch {
                exchange.respond(CoAPResponse(code: .badRequest, text: error.description))
            }
        case .get where path == nil:
            // Bootstrap-Discover of `/` (Core §6.1.7.3).
            exchange.respond(CoAPResponse(
                code: .content, text: #"lwm2m="\#(own.version)",</0>,</1>,</3/0>"#, contentFormat: CoRELinkFormat.contentFormat))
        default:
            exchange.respond(CoAPResponse(code: .methodNotAllowed, text: "the client is being bootstrapped"))
        }
    }
}
