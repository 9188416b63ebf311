import Auth
import CoAPCodec
import CoAPEndpoint
import Logging
import NIOCore
import ProcessorAPI

/// The ThingsBoard CoAP device API on one endpoint, entirely on the
/// endpoint's event loop: authentication from the credential cache in
/// place, one completion object per upload, no task per request (only cache
/// misses and registry reads and writes go through a task).
final class CoAPDeviceHandler: CoAPRequestHandler {
    let api: CoAPDeviceAPI
    /// Disconnects devices idle past COAP_SESSION_TIMEOUT (the table is `api.shared`).
    var sweep: RepeatedTask?
    /// Client-side RPCs waiting for the backend's answer, by request id.
    var clientRPCs: [String: CoAPClientRPCWait] = [:]
    /// Requests waiting for a registry look-up of their token, in arrival
    /// order: one look-up per token, and a device's requests keep their order.
    private var lookups: [String: [(exchange: CoAPServerExchange, next: (CoAPDeviceHandler, DeviceIdentity) -> Void)]] = [:]

    init(api: CoAPDeviceAPI) {
        self.api = api
    }

    var configuration: CoAPTransportConfiguration { api.configuration }

    func handleRequest(_ exchange: CoAPServerExchange) {
        startSweep(on: exchange.eventLoop)
        let request = exchange.request
        guard let route = CoAPDeviceRoute(path: request.uriPath) else {
            return exchange.respond(CoAPResponse(code: .notFound))
        }
        switch (route, request.code) {
        case (.telemetry, .post), (.attributes, .post), (.attributes, .get), (.rpc, .get), (.rpc, .post), (.rpcReply, .post):
            break
        default:
            return exchange.respond(CoAPResponse(code: .methodNotAllowed))
        }
        if request.code == .post {
            // JSON (50) or no Content-Format; text/plain (0) is taken as JSON text too.
            if let format = request.contentFormat, format != CoAPContentFormat.json, format != CoAPContentFormat.textPlain {
                api.metrics.dropped(.invalidPayload)
                return exchange.respond(CoAPResponse(code: .unsupportedContentFormat, text: "payload must be JSON (Content-Format 50)"))
            }
            if request.payload.readableBytes > configuration.maxPayloadSize {
                api.metrics.dropped(.payloadTooLarge)
                return exchange.respond(CoAPResponse(
                    code: .requestEntityTooLarge, options: [CoAPOption(.size1, uint: UInt32(configuration.maxPayloadSize))]))
            }
        }
        authenticate(route.token, exchange) { handler, device in
            handler.serve(route, exchange, device)
        }
    }

    /// Unanswered after COAP_ACK_TIMEOUT (the endpoint's one timer): the
    /// record may still arrive later (at least once), never a 2.04 without Kafka.
    func exchangeTimedOut(_ exchange: CoAPServerExchange) {
        if let answer = clientRPCTimedOut(exchange) { return exchange.respond(answer) }
        api.metrics.dropped(.sinkTimeout)
        exchange.respond(CoAPUploadCompletion.unavailable(.sinkTimeout))
    }

    func rejectedDatagram(from peer: SocketAddress, error: CoAPCodecError) {
        api.metrics.error(.transport)
        api.logger.debug("malformed CoAP datagram", metadata: ["peer": "\(peer)", "error": "\(error)", "transport": "coap"])
    }

    func blockTransferRefused(from peer: SocketAddress, perAddress: Bool) {
        api.metrics.connectionRefused(TransportKind.coap.rawValue, perAddress ? .perAddress : .maxPending)
    }

    // MARK: Authentication

    /// Resolves the token from the cache in place, or from the registry
    /// through a task, then continues on the event loop.
    private func authenticate(
        _ token: String,
        _ exchange: CoAPServerExchange,
        then next: @escaping (CoAPDeviceHandler, DeviceIdentity) -> Void
    ) {
        if lookups[token] != nil {
            // Behind a look-up under way: answered after the ones before it.
            lookups[token]?.append((exchange, next))
            return
        }
        if let cached = api.authenticator.cachedResult(token: token) {
            return authenticated(cached, exchange, next)
        }
        let address = exchange.peer.ipAddress ?? "unknown"
        let authenticator = api.authenticator
        if authenticator.failures.isBlocked(address) {
            // Too many wrong tokens from here: no look-up, 4.29 (RFC 8516).
            api.metrics.connectionRefused(TransportKind.coap.rawValue, .throttled)
            return exchange.respond(CoAPResponse(code: .tooManyRequests, options: [CoAPOption(.maxAge, uint: 60)]))
        }
        api.metrics.authCacheMiss()
        lookups[token] = [(exchange, next)]
        let loop = exchange.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        authenticator.authenticateUncached(token: token, from: address) { result in
            loop.execute {
                let handler = bound.value
                for (exchange, next) in handler.lookups.removeValue(forKey: token) ?? [] {
                    handler.authenticated(result, exchange, next)
                }
            }
        }
    }

    private func authenticated(
        _ result: AuthenticationResult,
        _ exchange: CoAPServerExchange,
        _ next: (CoAPDeviceHandler, DeviceIdentity) -> Void
    ) {
        switch result {
        case .authenticated(let device):
            touch(device)
            next(self, device)
        case .unavailable:
            exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)]))
        case let refusal:
            api.metrics.authFailed(.coap)
            api.logger.warning(
                "CoAP device authentication failed",
                metadata: ["peer": "\(exchange.peer)", "reason": "\(refusal)", "transport": "coap"])
            exchange.respond(CoAPResponse(code: .unauthorized))
        }
    }

    // MARK: Routing

    private func serve(_ route: CoAPDeviceRoute, _ exchange: CoAPServerExchange, _ device: DeviceIdentity) {
        let request = exchange.request
        switch (route, request.code) {
        case (.telemetry, _):
            upload(device, exchange, kind: .telemetry)
        case (.attributes, .post):
            upload(device, exchange, kind: .attributes)
        case (.attributes, _):
            if request.observe == 0 {
                observe(device, exchange, carrying: .attributes)
            } else {
                readAttributes(device, exchange)
            }
        case (.rpc, .get):
            if request.observe == 0 {
                observe(device, exchange, carrying: .rpc)
            } else {
                exchange.respond(CoAPResponse(code: .badRequest, text: "observe this resource (Observe: 0) to receive RPC requests"))
            }
        case (.rpc, _):
            clientRPC(device, exchange)
        case (.rpcReply(_, let id), _):
            forwardRPC(device, exchange, kind: .rpcResponse, id: id)
        }
    }
}
