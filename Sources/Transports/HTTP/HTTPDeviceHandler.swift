import Auth
import Logging
import NIOCore
import NIOHTTP1
import ProcessorAPI

/// One HTTP/1.1 connection of the device API, entirely on its event loop:
/// no task per request. Authentication is answered from the credential cache
/// in place; only cache misses, attribute storage and attribute reads go
/// through a task. Requests are answered one at a time, in order: pipelined
/// ones wait in `pending` (RFC 9112 §9.3.2).
final class HTTPDeviceHandler: ChannelInboundHandler {
    typealias InboundIn = DeviceHTTPRequestPart
    typealias OutboundOut = ByteBuffer

    /// Pipelined requests held before the connection stops reading.
    static let maximumPending = 16

    let api: DeviceAPI
    var context: ChannelHandlerContext?
    /// A request (or refusal) is being answered; its answer is not written yet.
    private var answering = false
    /// Requests (and refusals) that arrived while one is answered.
    private var pending = CircularBuffer<DeviceHTTPRequestPart>()
    private var processing = false
    private var readingPaused = false
    /// Counts requests, so a late verdict or time-out for an earlier one is ignored.
    var generation: UInt64 = 0
    var awaiting = false
    /// A long-poll's time-out.
    var timeout: Scheduled<Void>?
    /// When the current upload must have its answer (HTTP_ACK_TIMEOUT). One
    /// timer per connection watches it and is re-armed lazily when it fires
    /// early, instead of a timer scheduled and cancelled for every request.
    private var ackDeadline: NIODeadline?
    private var ackTimer: Scheduled<Void>?
    private var keepAlive = true
    private var version = HTTPVersion.http1_1
    private(set) var closing = false
    /// A refusal was answered: the connection closes and reads nothing more.
    private var closeAfterAnswer = false
    /// A long-poll waiting for downlink: its registration in DeviceSessions.
    var longPollRegistration: (deviceId: String, registration: UInt64)?
    /// A client-side RPC waiting for the backend's answer.
    var clientRPC: HTTPClientRPCWait?
    /// Since when nothing is being answered (nil while a request is):
    /// HTTP_IDLE_TIMEOUT counts from here.
    private var quietSince: NIODeadline?
    /// The first byte of the next request, while it is incomplete:
    /// HTTP_REQUEST_TIMEOUT counts from here.
    private var requestStartedAt: NIODeadline?
    /// One timer per connection for both, re-armed lazily when it fires.
    private var quietTimer: Scheduled<Void>?

    init(api: DeviceAPI) {
        self.api = api
    }

    var configuration: HTTPTransportConfiguration { api.configuration }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        becameQuiet()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        ackTimer?.cancel()
        quietTimer?.cancel()
        quietTimer = nil
        endLongPoll()
        endClientRPC()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .continueExpected = part, !answering, pending.isEmpty {
            return writeContinue(context: context)
        }
        pending.append(part)
        processPending()
    }

    /// Answers what is pending, one request at a time; the loop (rather than
    /// recursion from `respond`) keeps a burst of pipelined requests flat.
    private func processPending() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while !answering, !closeAfterAnswer, let context, let part = pending.popFirst() {
            switch part {
            case .continueExpected:
                writeContinue(context: context)
            case .request(let request):
                requestArrived()
                answering = true
                keepAlive = request.keepAlive
                version = request.version
                generation &+= 1
                route(request)
            case .refused(let response, let version):
                requestArrived()
                answering = true
                self.version = version
                keepAlive = false
                closeAfterAnswer = true
                generation &+= 1
                if response.status == .payloadTooLarge {
                    api.metrics.dropped(.payloadTooLarge)
                } else {
                    api.metrics.error(.transport)
                }
                respond(response)
            }
        }
        pauseReading(pending.count >= Self.maximumPending)
        if !answering, !closeAfterAnswer, pending.isEmpty, quietSince == nil { becameQuiet() }
    }

    // MARK: Idle and slow requests

    /// Nothing is being answered: from now a request must arrive within
    /// HTTP_IDLE_TIMEOUT and, once begun, be complete within
    /// HTTP_REQUEST_TIMEOUT.
    private func becameQuiet() {
        quietSince = .now()
        requestStartedAt = nil
        armQuietTimer(in: min(configuration.requestTimeout, configuration.idleTimeout).timeAmount)
    }

    private func requestArrived() {
        quietSince = nil
        requestStartedAt = nil
    }

    /// From the read observer in front of the decoder.
    func bytesArrived() {
        if quietSince != nil, requestStartedAt == nil { requestStartedAt = .now() }
    }

    /// The timer ticks at most every HTTP_REQUEST_TIMEOUT while the
    /// connection is quiet and lapses while a request is answered, so a
    /// slow request is answered 408 between one and two
    /// HTTP_REQUEST_TIMEOUTs after its first byte, without a timer
    /// scheduled and cancelled per request.
    private func armQuietTimer(in delay: TimeAmount) {
        guard quietTimer == nil, let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        quietTimer = context.eventLoop.scheduleTask(in: delay) {
            let handler = bound.value
            handler.quietTimer = nil
            handler.quietTimerFired()
        }
    }

    private func quietTimerFired() {
        guard let since = quietSince, let context, !closeAfterAnswer else { return }
        let now = NIODeadline.now()
        let requestTimeout = configuration.requestTimeout.timeAmount
        if let started = requestStartedAt {
            guard now - started >= requestTimeout else { return armQuietTimer(in: started + requestTimeout - now) }
            api.metrics.connectionRefused(TransportKind.http.rawValue, .requestTimeout)
            quietSince = nil
            answering = true
            keepAlive = false
            closeAfterAnswer = true
            generation &+= 1
            return respond(.error(.requestTimeout, "request not complete within HTTP_REQUEST_TIMEOUT"))
        }
        let idleTimeout = configuration.idleTimeout.timeAmount
        guard now - since >= idleTimeout else { return armQuietTimer(in: min(requestTimeout, since + idleTimeout - now)) }
        api.metrics.connectionRefused(TransportKind.http.rawValue, .idleTimeout)
        closeAfterAnswer = true
        context.close(promise: nil)
    }

    /// Stops reading while too many pipelined requests wait (TCP then pushes back).
    private func pauseReading(_ pause: Bool) {
        guard pause != readingPaused, let context else { return }
        readingPaused = pause
        context.channel.setOption(.autoRead, value: !pause).whenFailure { _ in }
    }

    /// `100 Continue` for a request whose body waits for it (RFC 9110 §15.2.1).
    private func writeContinue(context: ChannelHandlerContext) {
        var bytes = context.channel.allocator.buffer(capacity: 25)
        bytes.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    // MARK: Routing

    private func route(_ request: DeviceHTTPRequest) {
        guard let (route, query) = DeviceHTTPRoute.parse(request.target) else { return respond(.notFound) }
        let body = request.body
        switch (route, request.method) {
        case (.health, .GET):
            respond(.json(.ok, #"{"status":"UP"}"#))
        case (.telemetry(let token), .POST):
            authenticate(token) { handler, device in handler.upload(device, body: body, kind: .telemetry) }
        case (.attributes(let token), .POST):
            authenticate(token) { handler, device in handler.upload(device, body: body, kind: .attributes) }
        case (.attributes(let token), .GET):
            let clientKeys = DeviceHTTPRoute.list("clientKeys", in: query)
            let sharedKeys = DeviceHTTPRoute.list("sharedKeys", in: query)
            authenticate(token) { handler, device in handler.readAttributes(device, clientKeys: clientKeys, sharedKeys: sharedKeys) }
        case (.attributeUpdates(let token), .GET):
            guard let timeout = longPollTimeout(query) else { return }
            authenticate(token) { handler, device in handler.longPoll(device, for: .attributes, timeout: timeout) }
        case (.rpc(let token), .GET):
            guard let timeout = longPollTimeout(query) else { return }
            authenticate(token) { handler, device in handler.longPoll(device, for: .rpc, timeout: timeout) }
        case (.rpc(let token), .POST):
            authenticate(token) { handler, device in handler.clientRPC(device, body: body) }
        case (.rpcReply(let token, let id), .POST):
            authenticate(token) { handler, device in handler.forwardRPC(device, body: body, kind: .rpcResponse, id: id) }
        default:
            respond(.methodNotAllowed)
        }
    }

    /// Resolves the token from the cache in place, or from the registry
    /// through a batched look-up, then continues on the event loop.
    private func authenticate(_ token: String, then next: @escaping (HTTPDeviceHandler, DeviceIdentity) -> Void) {
        if let cached = api.authenticator.cachedResult(token: token) {
            return authenticated(cached, next)
        }
        guard let channel = context?.channel else { return }
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let authenticator = api.authenticator
        if authenticator.failures.isBlocked(address) {
            // Too many wrong tokens from here: no look-up, 429 (counted).
            api.metrics.connectionRefused(TransportKind.http.rawValue, .throttled)
            return respond(.rateLimited)
        }
        api.metrics.authCacheMiss()
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        let nextBound = NIOLoopBound(next, eventLoop: channel.eventLoop)
        authenticator.authenticateUncached(token: token, from: address) { result in
            bound.eventLoop.execute { bound.value.authenticated(result, nextBound.value) }
        }
    }

    private func authenticated(_ result: AuthenticationResult, _ next: (HTTPDeviceHandler, DeviceIdentity) -> Void) {
        // The look-up of an uncached token outlived the connection: the
        // client is gone, nothing is answered or stored (the message was
        // never acknowledged, so the device sends it again).
        guard context != nil else {
            api.metrics.error(.transport)
            return
        }
        switch result {
        case .authenticated(let device):
            next(self, device)
        case .unavailable:
            respond(.registryUnavailable)
        case let refusal:
            api.metrics.authFailed(.http)
            api.logger.warning(
                "HTTP device authentication failed",
                metadata: ["remote_address": "\(context?.channel.remoteAddress?.description ?? "unknown")",
                           "reason": "\(refusal)", "transport": "http"])
            respond(.unauthorized)
        }
    }

    // MARK: Uploads

    private func upload(_ device: DeviceIdentity, body: ByteBuffer, kind: MessageKind) {
        api.metrics.messageReceived(.http)
        if let limiter = api.rateLimiter, !limiter.allow(device.id) {
            api.metrics.dropped(.rateLimited)
            return respond(.rateLimited)
        }
        let receivedAt = EpochClock.nowMilliseconds()
        do {
            if kind == .attributes {
                let update = try ThingsBoardPayload.parseAttributes(body, receivedAt: receivedAt)
                storeThenSubmit(device, update: update, receivedAt: receivedAt)
            } else {
                let entries = try ThingsBoardPayload.parseTelemetry(body, receivedAt: receivedAt)
                submit(device, kind: .telemetry, entries: entries, receivedAt: receivedAt)
            }
        } catch {
            api.metrics.dropped(.invalidPayload)
            respond(.error(.badRequest, error.description))
        }
    }

    /// Client attributes are stored in the registry, then forwarded.
    private func storeThenSubmit(_ device: DeviceIdentity, update: ThingsBoardPayload.AttributeUpdate, receivedAt: Int64) {
        guard let eventLoop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
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
            bound.eventLoop.execute {
                let handler = bound.value
                switch failure {
                case nil:
                    handler.submit(device, kind: .attributes, entries: [entry], receivedAt: receivedAt)
                case .quotaExceeded(let reason)?:
                    handler.api.metrics.dropped(.quotaExceeded)
                    handler.respond(.error(.payloadTooLarge, reason))
                case _?:
                    handler.api.metrics.error(.registry)
                    handler.respond(.registryUnavailable)
                }
            }
        }
    }

    func submit(_ device: DeviceIdentity, kind: MessageKind, entries: [TelemetryEntry], receivedAt: Int64) {
        guard let context else { return }
        let completion = HTTPResponseCompletion(handler: NIOLoopBound(self, eventLoop: context.eventLoop), generation: generation)
        let message = GatewayMessage(
            device: device, kind: kind, transport: .http, receivedAt: receivedAt, entries: entries, completion: completion)
        if case .refused(let reason) = api.ingest.submit(message) {
            return respond(.unavailable(reason))
        }
        awaiting = true
        ackDeadline = .now() + configuration.ackTimeout.timeAmount
        if ackTimer == nil { armAckTimer(context.eventLoop) }
    }

    private func armAckTimer(_ eventLoop: any EventLoop) {
        guard let deadline = ackDeadline else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        ackTimer = eventLoop.scheduleTask(deadline: deadline) {
            let handler = bound.value
            handler.ackTimer = nil
            handler.ackTimerFired(eventLoop)
        }
    }

    /// The timer lapses when nothing waits, waits on for a later request's
    /// deadline, or answers the request that ran out of time.
    private func ackTimerFired(_ eventLoop: any EventLoop) {
        guard awaiting, let deadline = ackDeadline else { return }
        guard deadline <= .now() else { return armAckTimer(eventLoop) }
        ackDeadline = nil
        if let rpc = clientRPC, rpc.accepted {
            // In Kafka, but the backend did not answer: 408, as ThingsBoard answers it.
            return respond(.error(.requestTimeout, "no answer to client-side RPC \(rpc.requestId) within the timeout"))
        }
        // The record may still arrive later: at least once, never a 200 without Kafka.
        api.metrics.dropped(.sinkTimeout)
        respond(.unavailable(.sinkTimeout))
    }

    /// The sink's verdict, on the event loop.
    func sinkAnswered(_ outcome: DeliveryOutcome, generation: UInt64) {
        guard awaiting, generation == self.generation else { return }
        switch outcome {
        case .delivered:
            guard var rpc = clientRPC else { return respond(.ok) }
            // A client-side RPC is answered with the backend's answer, which may already be here.
            if let answer = rpc.answer { return respond(.json(.ok, answer)) }
            rpc.accepted = true
            clientRPC = rpc
        case .failed(let reason): respond(.unavailable(reason))
        }
    }

    // MARK: Attribute reads

    private func readAttributes(_ device: DeviceIdentity, clientKeys: [String]?, sharedKeys: [String]?) {
        guard let eventLoop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let registry = api.registry
        let deviceId = device.id
        Task {
            let body = try? await registry.attributeResponse(deviceId: deviceId, clientKeys: clientKeys, sharedKeys: sharedKeys)
            bound.eventLoop.execute {
                let handler = bound.value
                guard let body else {
                    handler.api.metrics.error(.registry)
                    return handler.respond(.registryUnavailable)
                }
                handler.respond(.json(.ok, body))
            }
        }
    }

    // MARK: Responses and shutdown

    /// `written` runs once the whole answer is on the socket (a long-poll's
    /// RPC request is then DELIVERED).
    func respond(_ response: DeviceHTTPResponse, written: (@Sendable () -> Void)? = nil) {
        endLongPoll()
        endClientRPC()
        awaiting = false
        ackDeadline = nil
        timeout?.cancel()
        timeout = nil
        guard let context, answering else { return }
        let close = !keepAlive || closing
        var bytes = context.channel.allocator.buffer(capacity: 128 + response.body.utf8.count)
        bytes.writeStaticString(version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        bytes.writeString(String(response.status.code))
        bytes.writeStaticString(" ")
        bytes.writeString(response.status.reasonPhrase)
        bytes.writeStaticString("\r\ncontent-length: ")
        bytes.writeString(String(response.body.utf8.count))
        if !response.body.isEmpty { bytes.writeStaticString("\r\ncontent-type: application/json") }
        if response.retryAfter { bytes.writeStaticString("\r\nretry-after: 1") }
        if close {
            bytes.writeStaticString("\r\nconnection: close")
        } else if version.minor == 0 {
            bytes.writeStaticString("\r\nconnection: keep-alive")
        }
        bytes.writeStaticString("\r\n\r\n")
        bytes.writeString(response.body)
        answering = false
        if written == nil, !close {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            return processPending()
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: done)
        if let written { done.futureResult.whenSuccess { written() } }
        if close {
            closeAfterAnswer = true
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        processPending()
    }

    /// Server shutdown: an idle connection closes now, a busy one after its answer.
    func shutdown() {
        closing = true
        if longPollRegistration != nil { return respond(.unavailable(.shuttingDown)) }
        if !answering, !awaiting { context?.close(promise: nil) }
    }
}

/// Carries the sink's verdict back to the connection's event loop.
final class HTTPResponseCompletion: DeliveryCompletion {
    private let handler: NIOLoopBound<HTTPDeviceHandler>
    private let generation: UInt64

    init(handler: NIOLoopBound<HTTPDeviceHandler>, generation: UInt64) {
        self.handler = handler
        self.generation = generation
    }

    func complete(_ outcome: DeliveryOutcome) {
        let (handler, generation) = (self.handler, self.generation)
        handler.eventLoop.execute { handler.value.sinkAnswered(outcome, generation: generation) }
    }

    var eventLoop: (any EventLoop)? { handler.eventLoop }

    func completeOnEventLoop(_ outcome: DeliveryOutcome) {
        handler.value.sinkAnswered(outcome, generation: generation)
    }
}
