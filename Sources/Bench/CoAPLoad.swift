import CoAPCodec
import NIOCore
import NIOPosix
import ProcessorAPI

/// `bench coap`: one UDP socket per device (a CoAP peer is an address),
/// each with up to `window` confirmable POSTs to
/// `/api/v1/{token}/telemetry` outstanding. Lost ones are sent again after
/// ACK_TIMEOUT (RFC 7252 §4.2) and counted, so a run shows how many
/// retransmissions the gateway caused.
package struct CoAPLoadOptions: Sendable {
    package var load: LoadOptions
    /// CONs a peer may have unanswered (RFC 7252's NSTART is 1; load tests use more).
    package var window: Int
    /// How long to wait for outstanding answers after the last send.
    package var drain: Duration
    /// RFC 7252 §4.8 transmission parameters.
    package var ackTimeout: Duration
    package var maxRetransmit: Int

    package init(load: LoadOptions, window: Int, drain: Duration = .seconds(10), ackTimeout: Duration = .seconds(2), maxRetransmit: Int = 4) {
        self.load = load
        self.window = max(1, window)
        self.drain = drain
        self.ackTimeout = ackTimeout
        self.maxRetransmit = maxRetransmit
    }
}

package enum CoAPLoad {
    /// `progress` gets a line every second while the run lasts.
    package static func run(_ options: CoAPLoadOptions, progress: (@Sendable (String) -> Void)? = nil) async throws -> LoadResult {
        let group = MultiThreadedEventLoopGroup.singleton
        let budget = LoadBudget(count: options.load.count, duration: options.load.duration)
        let clock = LoadClock(duration: options.load.duration, progress: progress)
        let server = try SocketAddress.makeAddressResolvingHost(options.load.host, port: options.load.port)
        let tokens = options.load.tokens
        let interval = options.load.rate.map { Duration.seconds(Double(tokens.count) / max($0, 0.001)).timeAmount }
        var finished: [EventLoopFuture<LoadResult>] = []
        var channels: [any Channel] = []
        for (index, token) in tokens.enumerated() {
            let loop = group.next()
            let done = loop.makePromise(of: LoadResult.self)
            let peer = CoAPLoadHandler.Peer(
                device: index + 1, token: token, budget: budget, clock: clock, interval: interval, done: done)
            let channel = try await DatagramBootstrap(group: loop)
                .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
                .channelOption(.datagramVectorReadMessageCount, value: 16)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16 * 2048))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CoAPLoadHandler(options: options, peer: peer))
                    }
                }
                // Connected (an ephemeral port of its own): the kernel keeps
                // the route and takes only the server's datagrams.
                .connect(to: server)
                .get()
            channels.append(channel)
            finished.append(done.futureResult)
        }
        var total = LoadResult()
        for future in finished { total.merge(try await future.get()) }
        for channel in channels { try? await channel.close() }
        clock.finish(&total)
        return total
    }
}
