import Auth
import Hummingbird
import Logging
import NIOCore
import ProcessorAPI

/// The ThingsBoard HTTP device API (`/api/v1/{token}/…`): telemetry and
/// attribute uploads, attribute reads. A 200 means the sink has the message.
package struct DeviceAPI: Sendable {
    let configuration: HTTPTransportConfiguration
    let authenticator: DeviceAuthenticator
    let registry: DeviceRegistry
    let rateLimiter: RateLimiter?
    let ingest: any MessageIngest
    let metrics: GatewayMetrics
    let logger: Logger

    package init(
        configuration: HTTPTransportConfiguration,
        authenticator: DeviceAuthenticator,
        registry: DeviceRegistry,
        rateLimiter: RateLimiter?,
        ingest: any MessageIngest,
        metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.registry = registry
        self.rateLimiter = rateLimiter
        self.ingest = ingest
        self.metrics = metrics
        self.logger = logger
    }

    package func addRoutes(to router: Router<DeviceRequestContext>) {
        router.post("/api/v1/:token/telemetry") { request, context in
            await upload(request, context, kind: .telemetry)
        }
        router.post("/api/v1/:token/attributes") { request, context in
            await upload(request, context, kind: .attributes)
        }
        router.get("/api/v1/:token/attributes") { request, context in
            await readAttributes(request, context)
        }
        router.get("/health") { _, _ in
            DeviceAPIResponses.json(.ok, #"{"status":"UP"}"#)
        }
    }

    /// The device behind the request's token, or the response refusing it.
    private func device(_ context: DeviceRequestContext) async -> Result<DeviceIdentity, ResponseError> {
        let token = context.parameters.get("token") ?? ""
        switch await authenticator.authenticate(token: token) {
        case .authenticated(let device):
            return .success(device)
        case .unavailable:
            return .failure(ResponseError(DeviceAPIResponses.error(.serviceUnavailable, "device registry unavailable", headers: [.retryAfter: "1"])))
        case let refusal:
            metrics.authFailed(.http)
            logger.warning(
                "HTTP device authentication failed",
                metadata: ["remote_address": "\(context.remoteAddress)", "reason": "\(refusal)", "transport": "http"]
            )
            return .failure(ResponseError(DeviceAPIResponses.unauthorized()))
        }
    }

    private func upload(_ request: Request, _ context: DeviceRequestContext, kind: MessageKind) async -> Response {
        let limit = configuration.maxPayloadSize
        // Refuse an announced oversize body before authenticating or reading it.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            metrics.dropped(.payloadTooLarge)
            return DeviceAPIResponses.tooLarge(limit)
        }
        let device: DeviceIdentity
        switch await self.device(context) {
        case .success(let found): device = found
        case .failure(let refusal): return refusal.response
        }
        metrics.messageReceived(.http)
        if let rateLimiter, !rateLimiter.allow(device.id) {
            metrics.dropped(.rateLimited)
            return DeviceAPIResponses.rateLimited()
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            metrics.dropped(.payloadTooLarge)
            return DeviceAPIResponses.tooLarge(limit)
        }
        let receivedAt = EpochClock.nowMilliseconds()
        let entries: [TelemetryEntry]
        do {
            switch kind {
            case .attributes:
                let update = try ThingsBoardPayload.parseAttributes(body, receivedAt: receivedAt)
                do {
                    try await registry.setAttributes(deviceId: device.id, scope: .client, update.values)
                } catch {
                    metrics.error(.registry)
                    logger.error("storing client attributes failed", metadata: ["device_id": "\(device.id)", "error": "\(error)"])
                    return DeviceAPIResponses.error(.serviceUnavailable, "device registry unavailable", headers: [.retryAfter: "1"])
                }
                entries = [update.entry]
            default:
                entries = try ThingsBoardPayload.parseTelemetry(body, receivedAt: receivedAt)
            }
        } catch {
            metrics.dropped(.invalidPayload)
            return DeviceAPIResponses.error(.badRequest, error.description)
        }
        let waiter = HTTPAckWaiter(eventLoop: context.eventLoop)
        let message = GatewayMessage(
            device: device, kind: kind, transport: .http, receivedAt: receivedAt, entries: entries, completion: waiter
        )
        if case .refused(let reason) = ingest.submit(message) {
            return DeviceAPIResponses.unavailable(reason)
        }
        let (outcome, timedOut) = await waiter.wait(timeout: configuration.ackTimeout, on: context.eventLoop)
        switch outcome {
        case .delivered:
            return DeviceAPIResponses.ok()
        case .failed(let reason):
            if timedOut { metrics.dropped(.sinkTimeout) }
            return DeviceAPIResponses.unavailable(reason)
        }
    }

    /// `GET /api/v1/{token}/attributes?clientKeys=a,b&sharedKeys=c`: answers
    /// `{"client":{…},"shared":{…}}`. With neither parameter, every client and
    /// shared attribute; with one, only that scope.
    private func readAttributes(_ request: Request, _ context: DeviceRequestContext) async -> Response {
        let device: DeviceIdentity
        switch await self.device(context) {
        case .success(let found): device = found
        case .failure(let refusal): return refusal.response
        }
        func keys(_ name: String) -> [String]? {
            request.uri.queryParameters.get(name).map { value in
                value.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            }
        }
        let clientKeys = keys("clientKeys")
        let sharedKeys = keys("sharedKeys")
        let neither = clientKeys == nil && sharedKeys == nil
        var sections: [(String, [(key: String, json: String)])] = []
        do {
            if neither || clientKeys != nil {
                sections.append(("client", try await registry.attributes(deviceId: device.id, scope: .client, keys: clientKeys)))
            }
            if neither || sharedKeys != nil {
                sections.append(("shared", try await registry.attributes(deviceId: device.id, scope: .shared, keys: sharedKeys)))
            }
        } catch {
            metrics.error(.registry)
            return DeviceAPIResponses.error(.serviceUnavailable, "device registry unavailable", headers: [.retryAfter: "1"])
        }
        let body = "{" + sections.map { name, values in
            JSONEscaping.quoted(name) + ":{" + values.map { JSONEscaping.quoted($0.key) + ":" + $0.json }.joined(separator: ",") + "}"
        }.joined(separator: ",") + "}"
        return DeviceAPIResponses.json(.ok, body)
    }
}

/// A response chosen early (a refusal), carried through a `Result`.
struct ResponseError: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
