import Foundation
import MQTTCodec
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ProcessorAPI

/// `bench mqtt`: one connection per device (the access token is the
/// CONNECT user name, as ThingsBoard devices do), each publishing telemetry
/// with up to `window` QoS 1/2 PUBLISHes unacknowledged. On NIO event loops:
/// no task per message.
package struct MQTTLoadOptions: Sendable {
    package var load: LoadOptions
    package var qos: MQTTQoS
    /// QoS 1/2 PUBLISHes a connection may have unacknowledged.
    package var window: Int
    package var version: MQTTProtocolVersion
    package var tls: NIOSSLContext?
    package var keepAlive: UInt16
    /// Connect, hold the connections for the duration, publish nothing.
    package var idle: Bool
    /// TCP connects (and CONNECTs) under way at once.
    package var connectConcurrency: Int
    /// How long to wait for outstanding acknowledgements after the last send.
    package var drain: Duration
    package var topic: String

    package init(
        load: LoadOptions, qos: MQTTQoS, window: Int, version: MQTTProtocolVersion, tls: NIOSSLContext? = nil, keepAlive: UInt16 = 60,
        idle: Bool = false, connectConcurrency: Int = 200, drain: Duration = .seconds(10), topic: String = "v1/devices/me/telemetry"
    ) {
        self.load = load
        self.qos = qos
        self.window = max(1, window)
        self.version = version
        self.tls = tls
        self.keepAlive = keepAlive
        self.idle = idle
        self.connectConcurrency = max(1, connectConcurrency)
        self.drain = drain
        self.topic = topic
    }
}

package enum MQTTLoad {
    /// `progress` gets a line every second while the run lasts.
    package static func run(_ options: MQTTLoadOptions, progress: (@Sendable (String) -> Void)? = nil) async throws -> LoadResult {
        let group = MultiThreadedEventLoopGroup.singleton
        let budget = LoadBudget(count: options.idle ? nil : options.load.count, duration: options.load.duration)
        let clock = LoadClock(duration: options.load.duration, progress: progress)
        let tokens = options.load.tokens
        // Resolved once: `connect(host:)` resolves and runs Happy Eyeballs
        // (a resolver hop and two timers) for every connection, which was
        // half of the tool's CPU in a run of 10,000 connects.
        let address = try SocketAddress.makeAddressResolvingHost(options.load.host, port: options.load.port)
        // Every connection publishes 1/connections of the total rate.
        let interval = options.load.rate.map { Duration.seconds(Double(tokens.count) / max($0, 0.001)).timeAmount }
        // Connects in waves of `connectConcurrency` (a burst of 10,000 SYNs
        // overflows a listen backlog): each CONNACK, or failure, starts the
        // next connection, on the event loops, without a hop per connection.
        let launched = group.any().makePromise(of: [EventLoopFuture<LoadResult>].self)
        // Idle connections are held until the run's deadline (or not at all without one).
        let holdUntil: NIODeadline? = options.idle ? budget.deadline.map { NIODeadline.now() + ($0 - ContinuousClock.now).timeAmount } ?? .now() : nil
        let keepAlive = options.keepAlive > 0 ? TimeAmount.seconds(Int64(options.keepAlive)) : nil
        var timers: [ObjectIdentifier: MQTTLoadLoopTimers] = [:]
        for loop in group.makeIterator() {
            timers[ObjectIdentifier(loop)] = MQTTLoadLoopTimers(eventLoop: loop, keepAlive: keepAlive, holdUntil: holdUntil)
        }
        let launcher = MQTTLauncher(count: tokens.count, launched: launched) { [timers] index, loop in
            let established = loop.makePromise(of: Void.self)
            let done = loop.makePromise(of: LoadResult.self)
            let connection = MQTTLoadHandler.Connection(
                device: index + 1, token: tokens[index], budget: budget, clock: clock, interval: interval, established: established, done: done,
                timers: timers[ObjectIdentifier(loop)]!)
            connect(options, address: address, loop: loop, connection: connection)
            return (established.futureResult, done.futureResult)
        }
        for _ in 0..<min(options.connectConcurrency, tokens.count) { launcher.launchNext(on: group.next()) }
        if tokens.isEmpty { launched.succeed([]) }
        let finished = try await launched.futureResult.get()
        var total = LoadResult()
        for future in finished { total.merge(try await future.get()) }
        clock.finish(&total)
        return total
    }

    private static func connect(
        _ options: MQTTLoadOptions, address: SocketAddress, loop: any EventLoop, connection: MQTTLoadHandler.Connection
    ) {
        let version = options.version
        let tls = options.tls
        let host = options.load.host
        _ = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
                        try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try pipeline.addHandler(MQTTLoadEncoder(version: version))
                    try pipeline.addHandler(MQTTLoadHandler(options: options, connection: connection))
                }
            }
            .connect(to: address)
    }
}

/// Starts connection after connection: the next one whenever one is
/// established (or failed), so at most the initial number are under way.
/// The next connection goes on the loop of the one that finished: no
/// thread hop per connect, and the first wave spreads them over the loops.
final class MQTTLauncher: Sendable {
    private struct State {
        var next = 0
        var finished: [EventLoopFuture<LoadResult>] = []
    }

    private let count: Int
    /// NIOLock, not `Mutex` (a priority-inheritance futex on Linux): both
    /// loops launch, and a contended unlock would wait for the kernel.
    private let state = NIOLockedValueBox(State())
    private let launched: EventLoopPromise<[EventLoopFuture<LoadResult>]>
    private let start: @Sendable (Int, any EventLoop) -> (established: EventLoopFuture<Void>, done: EventLoopFuture<LoadResult>)

    init(
        count: Int, launched: EventLoopPromise<[EventLoopFuture<LoadResult>]>,
        start: @escaping @Sendable (Int, any EventLoop) -> (established: EventLoopFuture<Void>, done: EventLoopFuture<LoadResult>)
    ) {
        self.count = count
        self.launched = launched
        self.start = start
    }

    func launchNext(on loop: any EventLoop) {
        let index = state.withLockedValue { state -> Int? in
            guard state.next < count else { return nil }
            defer { state.next += 1 }
            return state.next
        }
        guard let index else { return }
        let (established, done) = start(index, loop)
        let all = state.withLockedValue { state -> [EventLoopFuture<LoadResult>]? in
            state.finished.append(done)
            return state.finished.count == count ? state.finished : nil
        }
        if let all { launched.succeed(all) }
        // Through `execute`: a future already complete would run the callback
        // at once and recurse once per failed connection.
        established.whenComplete { [self] _ in loop.execute { self.launchNext(on: loop) } }
    }
}
