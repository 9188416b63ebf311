import CoAPCodec
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A CoAP endpoint on one UDP socket, server and client at once (RFC 7252):
/// the ThingsBoard device API serves on it, and the LwM2M server role both
/// serves registrations and sends requests to devices from it.
package final class CoAPEndpoint: Sendable {
    package let channel: any Channel
    private let handler: NIOLoopBound<CoAPEndpointHandler>

    private init(channel: any Channel, handler: NIOLoopBound<CoAPEndpointHandler>) {
        self.channel = channel
        self.handler = handler
    }

    package var eventLoop: any EventLoop { channel.eventLoop }
    package var localAddress: SocketAddress? { channel.localAddress }

    /// Binds the socket. `makeRequestHandler` runs on the endpoint's event
    /// loop and builds the object that serves requests (nil: a client only;
    /// requests are then answered 5.03). With `reusePort`, several endpoints
    /// share one port (SO_REUSEPORT): the kernel gives each peer, by its
    /// address and port, always the same socket, so a peer's exchanges stay
    /// on one endpoint; they then share one `blockSlots`.
    package static func bind(
        configuration: CoAPEndpointConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        reusePort: Bool = false,
        blockSlots: CoAPBlockSlots? = nil,
        logger: Logger,
        makeRequestHandler: @escaping @Sendable () -> (any CoAPRequestHandler)?
    ) async throws -> CoAPEndpoint {
        let perRead = max(1, configuration.datagramsPerRead)
        let blockSlots = blockSlots ?? CoAPBlockSlots(configuration)
        let channel = try await DatagramBootstrap(group: group)
            // No SO_REUSEADDR: on UDP it lets a second process bind the same
            // port and take part of the datagrams without an error.
            .channelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: reusePort ? 1 : 0)
            .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(configuration.receiveBufferSize))
            .channelOption(.datagramVectorReadMessageCount, value: perRead)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: perRead * configuration.maxDatagramSize))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = CoAPEndpointHandler(configuration: configuration, blockSlots: blockSlots, logger: logger)
                    handler.requestHandler = makeRequestHandler()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: CoAPEndpointHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return CoAPEndpoint(channel: channel, handler: handler)
    }

    /// Sends a request as a client and returns its response (piggybacked or
    /// separate). The token and message id are chosen here.
    package func request(_ message: CoAPMessage, to peer: SocketAddress, timeout: Duration? = nil) -> EventLoopFuture<CoAPMessage> {
        let promise = eventLoop.makePromise(of: CoAPMessage.self)
        let handler = self.handler
        eventLoop.execute {
            handler.value.sendRequest(message, to: peer, timeout: timeout) { result in
                switch result {
                case .success(let response): promise.succeed(response)
                case .failure(let error): promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// Registers an observation as a client (RFC 7641 §3.1): the future
    /// holds the first response; each later notification goes to
    /// `onNotification` on the event loop, until the server ends it or
    /// `cancelObservation` is called. The token identifies it. A
    /// confirmable notification comes with its acknowledgement, which the
    /// receiver must accept or refuse (nothing is sent until it does); a
    /// non-confirmable one, or the last word of an observation, with nil.
    package func observe(
        _ message: CoAPMessage,
        to peer: SocketAddress,
        timeout: Duration? = nil,
        onNotification: @escaping @Sendable (CoAPMessage, CoAPNotificationAcknowledgement?) -> Void
    ) -> EventLoopFuture<CoAPMessage> {
        var request = message
        request.observe = 0
        let registration = request
        let promise = eventLoop.makePromise(of: CoAPMessage.self)
        let handler = self.handler
        eventLoop.execute {
            handler.value.sendRequest(registration, to: peer, timeout: timeout, onNotification: onNotification) { result in
                switch result {
                case .success(let response): promise.succeed(response)
                case .failure(let error): promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// Ends an observation: actively with a GET carrying Observe=1 and the
    /// same token (RFC 7641 §3.6) when `request` is given, else passively
    /// (the next notification is answered with RST).
    package func cancelObservation(token: CoAPToken, peer: SocketAddress, request: CoAPMessage?) -> EventLoopFuture<CoAPMessage?> {
        let promise = eventLoop.makePromise(of: CoAPMessage?.self)
        let handler = self.handler
        eventLoop.execute {
            guard var request else {
                handler.value.forgetObservation(peer: peer, token: token)
                return promise.succeed(nil)
            }
            request.observe = 1
            handler.value.sendRequest(request, to: peer, token: token) { result in
                promise.succeed(try? result.get())
            }
        }
        return promise.futureResult
    }

    package func statistics() async throws -> CoAPEndpointStatistics {
        let handler = self.handler
        return try await eventLoop.submit {
            var statistics = handler.value.statistics
            statistics.deduplicationEntries = handler.value.deduplication.count
            return statistics
        }.get()
    }

    /// Shutdown, first half: new requests are answered 5.03 (Max-Age 5)
    /// while those already taken get their answers, up to `timeout`.
    package func drain(timeout: Duration) async {
        let handler = self.handler
        try? await eventLoop.submit { handler.value.draining = true }.get()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let open = (try? await eventLoop.submit { handler.value.statistics.openExchanges }.get()) ?? 0
            if open == 0 { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    package func close() async {
        try? await channel.close()
    }
}
