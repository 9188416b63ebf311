import Foundation
import NIOCore
import NIOPosix
import ProcessorAPI
import Synchronization

/// `bench http`: each connection posts telemetry for its devices in turn
/// (`POST /api/v1/{token}/telemetry`), one request at a time (keep-alive,
/// closed loop), paced when a rate is given. All on NIO event loops: no
/// task per request.
package enum HTTPLoad {
    /// `progress` gets a line every second while the run lasts.
    package static func run(_ options: LoadOptions, progress: (@Sendable (String) -> Void)? = nil) async throws -> LoadResult {
        let group = MultiThreadedEventLoopGroup.singleton
        let budget = LoadBudget(count: options.count, duration: options.duration)
        let clock = LoadClock(duration: options.duration, progress: progress)
        let connections = max(1, min(options.connections, options.tokens.count))
        let interval = options.rate.map { Duration.seconds(Double(connections) / max($0, 0.001)) }
        // Device i belongs to connection i % connections; each has its own sequence.
        let results = try await withThrowingTaskGroup(of: LoadResult.self) { tasks in
            for index in 0..<connections {
                let devices = stride(from: index, to: options.tokens.count, by: connections).map { (number: $0 + 1, token: options.tokens[$0]) }
                tasks.addTask {
                    try await connection(options, devices: devices, budget: budget, clock: clock, interval: interval, group: group)
                }
            }
            var total = LoadResult()
            for try await result in tasks { total.merge(result) }
            return total
        }
        var result = results
        clock.finish(&result)
        return result
    }

    private static func connection(
        _ options: LoadOptions, devices: [(number: Int, token: String)], budget: LoadBudget, clock: LoadClock, interval: Duration?,
        group: any EventLoopGroup
    ) async throws -> LoadResult {
        let counters = clock.counters
        let connectStart = ContinuousClock.now
        let done = group.any().makePromise(of: LoadResult.self)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPLoadHandler(
                            options: options, devices: devices, budget: budget, counters: counters, window: clock.window, interval: interval,
                            done: done))
                }
            }
            .connect(host: options.host, port: options.port).get()
        let connected = ContinuousClock.now - connectStart
        clock.connected()
        var result = try await done.futureResult.get()
        result.connected = 1
        result.connect.record(microseconds: connected.microseconds)
        try? await channel.close()
        return result
    }
}

/// One keep-alive connection of `bench http`, on its event loop. Requests
/// are written as one buffer each and answers found by `HTTPResponseScanner`:
/// the tool shares the machine with the gateway it measures, so it spends
/// as little CPU per request as wrk does.
final class HTTPLoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let options: LoadOptions
    private let devices: [(number: Int, token: String)]
    private let budget: LoadBudget
    private let counters: LoadCounters
    private let window: SteadyWindow
    private var pacer: SendPacer
    private let done: EventLoopPromise<LoadResult>
    private var sequences: [Int]
    private var next = 0
    private var sentAt = NIODeadline.now()
    /// The request on the wire: which device, which sequence number.
    private var current = (device: 0, seq: 0)
    private var scanner = HTTPResponseScanner()
    /// "POST /api/v1/" and the part of the request after the token, up to the length.
    private let requestPrefix: [UInt8] = Array("POST /api/v1/".utf8)
    private let requestMiddle: [UInt8]
    private var result = LoadResult()
    private var finished = false

    init(
        options: LoadOptions, devices: [(number: Int, token: String)], budget: LoadBudget, counters: LoadCounters, window: SteadyWindow,
        interval: Duration?, done: EventLoopPromise<LoadResult>
    ) {
        self.options = options
        self.devices = devices
        self.budget = budget
        self.counters = counters
        self.window = window
        self.pacer = SendPacer(interval: interval?.timeAmount)
        self.done = done
        self.sequences = Array(repeating: 0, count: devices.count)
        self.requestMiddle = Array("/telemetry HTTP/1.1\r\nhost: \(options.host)\r\ncontent-type: application/json\r\ncontent-length: ".utf8)
    }

    func channelActive(context: ChannelHandlerContext) {
        pacer.start()
        sendNext(context: context)
    }

    private func sendNext(context: ChannelHandlerContext) {
        if let wait = pacer.wait() {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(deadline: wait) { bound.value.0.sendNext(context: bound.value.1) }
            return
        }
        guard budget.take() else { return finish() }
        send(context: context)
    }

    private func send(context: ChannelHandlerContext) {
        let device = next % devices.count
        next += 1
        sequences[device] += 1
        current = (device, sequences[device])
        let now = EpochClock.nowMilliseconds()
        let body = options.template.render(seq: sequences[device], ts: now, device: devices[device].number)
        var request = context.channel.allocator.buffer(capacity: 128 + body.count)
        request.writeBytes(requestPrefix)
        request.writeString(devices[device].token)
        request.writeBytes(requestMiddle)
        request.writeString(String(body.count))
        request.writeStaticString("\r\n\r\n")
        request.writeBytes(body)
        sentAt = .now()
        result.sent += 1
        counters.sent.add(1, ordering: .relaxed)
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        let statuses: [Int]
        do {
            statuses = try scanner.scan(&bytes)
        } catch {
            return errorCaught(context: context, error: error)
        }
        // One request is outstanding at a time, so at most one answer completes here.
        for status in statuses {
            if status == 200 {
                result.acknowledged += 1
                counters.acknowledged.add(1, ordering: .relaxed)
                result.recordLatency(sentAt: sentAt, now: .now(), window: window)
                if options.recordAcknowledged { result.acknowledgedSeqs[devices[current.device].token, default: []].append(current.seq) }
            } else {
                result.refused[String(status), default: 0] += 1
                counters.refused.add(1, ordering: .relaxed)
            }
            sendNext(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.errors += 1
        counters.errors.add(1, ordering: .relaxed)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        done.succeed(result)
    }
}
