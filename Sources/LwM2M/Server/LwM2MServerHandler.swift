import Auth
import CoAPCodec
import CoAPEndpoint
import Foundation
import Logging
import NIOCore
import ProcessorAPI

/// The registration interface (Core §6.2: Register, Update, De-register
/// on `/rd`) and the 1.1 Send operation (`/dp`, §6.4.7), served on the
/// LwM2M endpoint's event loop.
final class LwM2MServerHandler: CoAPRequestHandler {
    let server: LwM2MServer

    init(server: LwM2MServer) {
        self.server = server
    }

    func handleRequest(_ exchange: CoAPServerExchange) {
        let request = exchange.request
        let path = request.uriPath
        switch (path.first, path.count, request.code) {
        case ("rd", 1, .post): register(exchange)
        case ("rd", 2, .post): update(exchange, id: path[1])
        case ("rd", 2, .delete): deregister(exchange, id: path[1])
        case ("dp", 1, .post): send(exchange)
        case ("rd", _, _), ("dp", _, _): exchange.respond(CoAPResponse(code: .methodNotAllowed))
        default: exchange.respond(CoAPResponse(code: .notFound))
        }
    }

    func rejectedDatagram(from peer: SocketAddress, error: CoAPCodecError) {
        server.metrics.error(.transport)
    }

    func blockTransferRefused(from peer: SocketAddress, perAddress: Bool) {
        server.metrics.connectionRefused(TransportKind.lwm2m.rawValue, perAddress ? .perAddress : .maxPending)
    }

    /// `ep=…`, `lt=…`, `b=…`, `Q` from Uri-Query options.
    static func query(_ request: CoAPMessage) -> [String: String] {
        var values: [String: String] = [:]
        for item in request.uriQuery {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return values
    }

    /// The object links of a Register or Update payload, `/3/0` style, without the root (`</>`) entry.
    static func objectLinks(_ request: CoAPMessage) throws(LwM2MContentError) -> [String]? {
        guard request.payload.readableBytes > 0 else { return nil }
        let links = try CoRELinkFormat.decode(String(buffer: request.payload))
        return links.map(\.target).filter { $0 != "/" && LwM2MPath($0) != nil }
    }

    // MARK: Register (Core §6.2.1)

    private func register(_ exchange: CoAPServerExchange) {
        let query = Self.query(exchange.request)
        guard let endpoint = query["ep"], !endpoint.isEmpty else {
            return exchange.respond(CoAPResponse(code: .badRequest, text: "ep (endpoint client name) is required"))
        }
        let version = query["lwm2m"] ?? "1.0"
        guard server.configuration.supportedVersions.contains(version) else {
            // 4.12: the client's LwM2M version is not supported, so it can fall back to an older one.
            return exchange.respond(CoAPResponse(code: .preconditionFailed, text: "LwM2M \(version) is not supported; use one of \(server.configuration.supportedVersions.joined(separator: ", "))"))
        }
        let lifetime = query["lt"].map { Int($0) } ?? 86400
        guard let lifetime, lifetime > 0 else {
            return exchange.respond(CoAPResponse(code: .badRequest, text: "lt must be a positive number of seconds"))
        }
        let links: [String]
        do {
            links = try Self.objectLinks(exchange.request) ?? []
        } catch {
            return exchange.respond(CoAPResponse(code: .badRequest, text: error.description))
        }
        var binding = query["b"] ?? "U"
        let queueMode = query["Q"] != nil || binding.contains("Q")
        if binding.isEmpty { binding = "U" }
        let loop = exchange.eventLoop
        let bound = NIOLoopBound(exchange, eventLoop: loop)
        let peer = exchange.peer
        let server = self.server
        let address = peer.ipAddress ?? "unknown"
        guard admitRegister(exchange, from: address) else { return }
        Task {
            defer { server.pendingRegisters.release(address) }
            let device: Device?
            do {
                device = try await server.registry.device(credential: .lwm2mEndpoint, value: endpoint)
            } catch {
                server.metrics.error(.registry)
                loop.execute { bound.value.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)])) }
                return
            }
            guard let device, device.enabled else {
                server.metrics.authFailed(.lwm2m)
                server.failures.failed(address)
                if server.warnings.shouldWarn(address) {
                    server.logger.warning(
                        "LwM2M registration refused",
                        metadata: [
                            "endpoint": "\(endpoint)", "reason": "\(device == nil ? "unknown endpoint" : "device disabled")",
                            "remote_address": "\(address)", "transport": "lwm2m",
                        ])
                }
                loop.execute { bound.value.respond(CoAPResponse(code: .forbidden)) }
                return
            }
            let now = EpochClock.nowMilliseconds()
            let registration = LwM2MRegistration(
                id: LwM2MServer.newRegistrationId(), endpoint: endpoint, device: device.identity, peer: peer,
                lifetime: lifetime, binding: binding, version: version, queueMode: queueMode, objectLinks: links,
                registeredAt: now, updatedAt: now, expiresAt: server.expiry(lifetime: lifetime))
            loop.execute {
                bound.value.respond(CoAPResponse(code: .created, options: [
                    CoAPOption(.locationPath, string: "rd"), CoAPOption(.locationPath, string: registration.id),
                ]))
                server.registered(registration)
            }
        }
    }

    /// An address past AUTH_FAILURES_PER_ADDRESS wrong endpoint names gets
    /// 4.29 (RFC 8516) without a look-up; one with eight Registers being
    /// looked up (or 256 in all) gets 5.03 with Max-Age until one is done.
    private func admitRegister(_ exchange: CoAPServerExchange, from address: String) -> Bool {
        if server.failures.isBlocked(address) {
            server.metrics.connectionRefused(TransportKind.lwm2m.rawValue, .throttled)
            exchange.respond(CoAPResponse(code: .tooManyRequests, options: [CoAPOption(.maxAge, uint: 60)]))
            return false
        }
        if let refusal = server.pendingRegisters.admit(address) {
            server.metrics.connectionRefused(TransportKind.lwm2m.rawValue, refusal == .full ? .maxPending : .perAddress)
            if server.warnings.shouldWarn("pending:" + address) {
                server.logger.warning(
                    "LwM2M Register refused: too many registrations being looked up",
                    metadata: ["remote_address": "\(address)", "reason": "\(refusal == .full ? "max_pending" : "per_address")"])
            }
            exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)]))
            return false
        }
        return true
    }

    // MARK: Update and De-register (Core §6.2.2, §6.2.3)

    private func update(_ exchange: CoAPServerExchange, id: String) {
        let query = Self.query(exchange.request)
        var lifetime: Int?
        if let text = query["lt"] {
            guard let value = Int(text), value > 0 else {
                return exchange.respond(CoAPResponse(code: .badRequest, text: "lt must be a positive number of seconds"))
            }
            lifetime = value
        }
        let links: [String]?
        do {
            links = try Self.objectLinks(exchange.request)
        } catch {
            return exchange.respond(CoAPResponse(code: .badRequest, text: error.description))
        }
        let peer = exchange.peer
        let server = self.server
        let updated = server.registrations.update(id) { registration in
            if let lifetime { registration.lifetime = lifetime }
            if let binding = query["b"], !binding.isEmpty { registration.binding = binding }
            if query["Q"] != nil { registration.queueMode = true }
            if let links { registration.objectLinks = links }
            // A NAT may have given the client a new address.
            registration.peer = peer
            registration.updatedAt = EpochClock.nowMilliseconds()
            registration.lastSeen = .now
            registration.expiresAt = server.expiry(lifetime: registration.lifetime)
        }
        guard let updated else { return exchange.respond(CoAPResponse(code: .notFound)) }
        exchange.respond(CoAPResponse(code: .changed))
        server.updated(updated)
    }

    private func deregister(_ exchange: CoAPServerExchange, id: String) {
        guard let registration = server.registrations.remove(id) else {
            return exchange.respond(CoAPResponse(code: .notFound))
        }
        exchange.respond(CoAPResponse(code: .deleted))
        server.ended(registration, event: "deregistered")
    }

    // MARK: Send (1.1, Core §6.4.7)

    /// SenML JSON or CBOR values from a registered client, forwarded as
    /// telemetry; 2.04 once the sink has them.
    private func send(_ exchange: CoAPServerExchange) {
        guard let registration = server.registrations.registration(peer: exchange.peer) else {
            return exchange.respond(CoAPResponse(code: .forbidden, text: "register first"))
        }
        let format = exchange.request.contentFormat
        guard format == SenMLJSON.contentFormat || format == SenMLCBOR.contentFormat else {
            return exchange.respond(CoAPResponse(code: .unsupportedContentFormat))
        }
        let bytes = Array(exchange.request.payload.readableBytesView)
        let nodes: [LwM2MNode]
        do {
            nodes = try LwM2MContentFormat.decode(bytes, format: format, path: LwM2MPath(0), types: server.models.type(of:))
        } catch {
            server.metrics.dropped(.invalidPayload)
            return exchange.respond(CoAPResponse(code: .badRequest, text: error.description))
        }
        let completion = LwM2MSendCompletion(exchange: NIOLoopBound(exchange, eventLoop: exchange.eventLoop))
        if let refusal = server.forward(nodes, registration: registration, completion: completion) {
            exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 1)], payload: ByteBuffer(string: refusal.rawValue)))
        }
    }
}

/// Answers a Send once the sink has its values.
final class LwM2MSendCompletion: DeliveryCompletion {
    private let exchange: NIOLoopBound<CoAPServerExchange>

    init(exchange: NIOLoopBound<CoAPServerExchange>) {
        self.exchange = exchange
    }

    func complete(_ outcome: DeliveryOutcome) {
        let exchange = self.exchange
        exchange.eventLoop.execute {
            switch outcome {
            case .delivered: exchange.value.respond(CoAPResponse(code: .changed))
            case .failed(let reason):
                exchange.value.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 1)], payload: ByteBuffer(string: reason.rawValue)))
            }
        }
    }
}
