import Auth
import Logging
import CoAPCodec
import CoAPEndpoint
import NIOCore
import ProcessorAPI

extension CoAPDeviceHandler {
    /// Telemetry and client attributes: parsed in one pass, rate-limited,
    /// handed to the processor; answered 2.04 once the sink has them.
    func upload(_ device: DeviceIdentity, _ exchange: CoAPServerExchange, kind: MessageKind) {
        api.metrics.messageReceived(.coap)
        let receivedAt = EpochClock.nowMilliseconds()
        do {
            if kind == .attributes {
                let update = try ThingsBoardPayload.parseAttributes(exchange.request.payload, receivedAt: receivedAt)
                storeThenSubmit(device, exchange, update: update, receivedAt: receivedAt)
            } else {
                let entries = try ThingsBoardPayload.parseTelemetry(exchange.request.payload, receivedAt: receivedAt)
                submit(device, exchange, kind: .telemetry, entries: entries, receivedAt: receivedAt)
            }
        } catch {
            badPayload(exchange, error.description)
        }
    }

    /// RPC replies and client-side RPC: the device's JSON wrapped as
    /// `{"requestId":"…","payload":…}` on the RPC topic, as the MQTT API does.
    /// A reply is answered 2.04 once the sink has it; a client-side RPC
    /// waits for the backend's answer (`completion`).
    func forwardRPC(
        _ device: DeviceIdentity, _ exchange: CoAPServerExchange, kind: MessageKind, id: String,
        completion: (any DeliveryCompletion)? = nil
    ) {
        api.metrics.messageReceived(.coap)
        let payload = exchange.request.payload
        guard let values = ThingsBoardPayload.rpcEnvelope(id: id, payload: payload) else {
            return badPayload(exchange, "RPC payload must be one JSON value")
        }
        let receivedAt = EpochClock.nowMilliseconds()
        if kind == .rpcResponse { api.deviceSessions.rpcReplied(deviceId: device.id, id: id, payload: String(buffer: payload)) }
        submit(device, exchange, kind: kind, entries: [TelemetryEntry(ts: receivedAt, values: values)], receivedAt: receivedAt, completion: completion)
    }

    func badPayload(_ exchange: CoAPServerExchange, _ reason: String) {
        api.metrics.dropped(.invalidPayload)
        exchange.respond(CoAPResponse(code: .badRequest, text: reason))
    }

    /// Client attributes are stored in the registry, then forwarded.
    private func storeThenSubmit(
        _ device: DeviceIdentity,
        _ exchange: CoAPServerExchange,
        update: ThingsBoardPayload.AttributeUpdate,
        receivedAt: Int64
    ) {
        let loop = exchange.eventLoop
        let bound = NIOLoopBound((self, exchange), eventLoop: loop)
        let registry = api.registry
        let values = update.values
        let entry = update.entry
        Task {
            let failure: RegistryError?
            do throws(RegistryError) {
                try await registry.setAttributes(deviceId: device.id, scope: .client, values)
                failure = nil
            } catch {
                failure = error
            }
            loop.execute {
                let (handler, exchange) = bound.value
                switch failure {
                case nil:
                    handler.submit(device, exchange, kind: .attributes, entries: [entry], receivedAt: receivedAt)
                case .quotaExceeded(let reason)?:
                    // RFC 7252 §5.9.2.9: 4.13, the request is larger than the server will take.
                    handler.api.metrics.dropped(.quotaExceeded)
                    exchange.respond(CoAPResponse(code: .requestEntityTooLarge, text: reason))
                case _?:
                    handler.api.metrics.error(.registry)
                    exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)]))
                }
            }
        }
    }

    private func submit(
        _ device: DeviceIdentity,
        _ exchange: CoAPServerExchange,
        kind: MessageKind,
        entries: [TelemetryEntry],
        receivedAt: Int64,
        completion: (any DeliveryCompletion)? = nil
    ) {
        if let limiter = api.rateLimiter, !limiter.allow(device.id) {
            api.metrics.dropped(.rateLimited)
            return exchange.respond(CoAPResponse(code: .tooManyRequests, options: [CoAPOption(.maxAge, uint: 1)]))
        }
        let completion = completion ?? CoAPUploadCompletion(exchange: NIOLoopBound(exchange, eventLoop: exchange.eventLoop))
        let message = GatewayMessage(
            device: device, kind: kind, transport: .coap, receivedAt: receivedAt, entries: entries, completion: completion)
        if case .refused(let reason) = api.ingest.submit(message) {
            return exchange.respond(CoAPUploadCompletion.unavailable(reason))
        }
        // COAP_ACK_TIMEOUT is the endpoint's responseTimeout: `exchangeTimedOut` answers 5.03.
    }

    // MARK: Attribute reads

    /// `GET /api/v1/{token}/attributes?clientKeys=…&sharedKeys=…`, answered
    /// as ThingsBoard does: `{"client":{…},"shared":{…}}`.
    func readAttributes(_ device: DeviceIdentity, _ exchange: CoAPServerExchange) {
        let query = exchange.request.uriQuery
        let clientKeys = queryList("clientKeys", in: query)
        let sharedKeys = queryList("sharedKeys", in: query)
        let loop = exchange.eventLoop
        let bound = NIOLoopBound((self, exchange), eventLoop: loop)
        let registry = api.registry
        Task {
            let body = try? await registry.attributeResponse(deviceId: device.id, clientKeys: clientKeys, sharedKeys: sharedKeys)
            loop.execute {
                let (handler, exchange) = bound.value
                guard let body else {
                    handler.api.metrics.error(.registry)
                    return exchange.respond(CoAPResponse(code: .serviceUnavailable, options: [CoAPOption(.maxAge, uint: 5)]))
                }
                exchange.respond(CoAPResponse(code: .content, text: body, contentFormat: CoAPContentFormat.json))
            }
        }
    }
}

/// Carries the sink's verdict back to the exchange's event loop: 2.04 when
/// delivered, 5.03 with Max-Age otherwise.
final class CoAPUploadCompletion: DeliveryCompletion {
    private let exchange: NIOLoopBound<CoAPServerExchange>

    init(exchange: NIOLoopBound<CoAPServerExchange>) {
        self.exchange = exchange
    }

    static func unavailable(_ reason: DropReason) -> CoAPResponse {
        CoAPResponse(
            code: .serviceUnavailable,
            options: [CoAPOption(.maxAge, uint: 1), CoAPOption(.contentFormat, uint: CoAPContentFormat.textPlain)],
            payload: ByteBuffer(string: reason.rawValue))
    }

    func complete(_ outcome: DeliveryOutcome) {
        let exchange = self.exchange
        exchange.eventLoop.execute { Self.respond(exchange.value, outcome) }
    }

    var eventLoop: (any EventLoop)? { exchange.eventLoop }

    func completeOnEventLoop(_ outcome: DeliveryOutcome) {
        Self.respond(exchange.value, outcome)
    }

    private static func respond(_ exchange: CoAPServerExchange, _ outcome: DeliveryOutcome) {
        switch outcome {
        case .delivered:
            exchange.respond(CoAPResponse(code: .changed))
        case .failed(let reason):
            exchange.respond(unavailable(reason))
        }
    }
}
