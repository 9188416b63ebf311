import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ProcessorAPI
import Synchronization

/// How a load run goes: which devices, how many connections, how much.
package struct LoadOptions: Sendable {
    package var host: String
    package var port: Int
    package var tokens: [String]
    package var connections: Int
    /// Messages in all; nil: until `duration` passes.
    package var count: Int?
    package var duration: Duration?
    /// Messages per second over all connections; nil: as fast as answers come.
    package var rate: Double?
    package var template: BenchTemplate

    package init(
        host: String, port: Int, tokens: [String], connections: Int, count: Int?, duration: Duration?, rate: Double?, template: BenchTemplate
    ) {
        self.host = host
        self.port = port
        self.tokens = tokens
        self.connections = connections
        self.count = count
        self.duration = duration
        self.rate = rate
        self.template = template
    }
}

/// What a run did: sent, acknowledged, refused by reason, latency from
/// send to acknowledgement, connect time.
package struct LoadResult: Sendable {
    package var sent = 0
    package var acknowledged = 0
    package var refused: [String: Int] = [:]
    package var errors = 0
    package var latency = LatencyHistogram()
    package var connect = LatencyHistogram()
    package var elapsed: Duration = .zero

    mutating func merge(_ other: LoadResult) {
        sent += other.sent
        acknowledged += other.acknowledged
        for (reason, count) in other.refused { refused[reason, default: 0] += count }
        errors += other.errors
        latency.merge(other.latency)
        connect.merge(other.connect)
    }

    /// One JSON object: counts, rate over the run, latency percentiles in ms.
    package var json: String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(acknowledged) / seconds : 0
        func ms(_ value: UInt64) -> String { String(format: "%.2f", Double(value) / 1000) }
        func percentiles(_ histogram: LatencyHistogram) -> String {
            histogram.count == 0 ? "null"
                : #"{"p50":\#(ms(histogram.percentile(50))),"p90":\#(ms(histogram.percentile(90))),"p99":\#(ms(histogram.percentile(99))),"max":\#(ms(histogram.max))}"#
        }
        let reasons = refused.sorted { $0.key < $1.key }.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
        return #"{"sent":\#(sent),"acknowledged":\#(acknowledged),"refused":{\#(reasons)},"errors":\#(errors),"seconds":\#(String(format: "%.3f", seconds)),"rate":\#(String(format: "%.1f", rate)),"latencyMs":\#(percentiles(latency)),"connectMs":\#(percentiles(connect))}"#
    }
}

/// Running totals over all connections, for the progress line.
final class LoadCounters: Sendable {
    let sent = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let errors = Atomic<Int>(0)

    /// `t=3s sent 12000 acked 11936 (3980/s) refused 0 errors 0 in flight 64`.
    func line(elapsed: Duration, lastAcknowledged: Int) -> String {
        let (sent, acknowledged, refused, errors) = (
            self.sent.load(ordering: .relaxed), self.acknowledged.load(ordering: .relaxed),
            self.refused.load(ordering: .relaxed), self.errors.load(ordering: .relaxed))
        return "t=\(elapsed.components.seconds)s sent \(sent) acked \(acknowledged) (\(acknowledged - lastAcknowledged)/s) refused \(refused) errors \(errors) in flight \(max(0, sent - acknowledged - refused - errors))"
    }
}

/// The budget shared by all connections: how many messages are left.
final class LoadBudget: Sendable {
    private let remaining: Atomic<Int>
    let deadline: ContinuousClock.Instant?

    init(count: Int?, duration: Duration?) {
        remaining = Atomic(count ?? .max)
        deadline = duration.map { ContinuousClock.now + $0 }
    }

    /// Takes one message, if any is left.
    func take() -> Bool {
        if let deadline, ContinuousClock.now >= deadline { return false }
        while true {
            let left = remaining.load(ordering: .relaxed)
            guard left > 0 else { return false }
            if remaining.compareExchange(expected: left, desired: left - 1, ordering: .relaxed).exchanged { return true }
        }
    }
}

/// `bench http`: each connection posts telemetry for its devices in turn
/// (`POST /api/v1/{token}/telemetry`), one request at a time (keep-alive,
/// closed loop), paced when a rate is given. All on NIO event loops: no
/// task per request.
package enum HTTPLoad {
    /// `progress` gets a line every second while the run lasts.
    package static func run(_ options: LoadOptions, progress: (@Sendable (String) -> Void)? = nil) async throws -> LoadResult {
        let group = MultiThreadedEventLoopGroup.singleton
        let budget = LoadBudget(count: options.count, duration: options.duration)
        let counters = LoadCounters()
        let started = ContinuousClock.now
        let reporter = progress.map { report in
            Task {
                var last = 0
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    report(counters.line(elapsed: ContinuousClock.now - started, lastAcknowledged: last))
                    last = counters.acknowledged.load(ordering: .relaxed)
                }
            }
        }
        defer { reporter?.cancel() }
        let connections = max(1, min(options.connections, options.tokens.count))
        let interval = options.rate.map { Duration.seconds(Double(connections) / max($0, 0.001)) }
        // Device i belongs to connection i % connections; each has its own sequence.
        let results = try await withThrowingTaskGroup(of: LoadResult.self) { tasks in
            for index in 0..<connections {
                let devices = stride(from: index, to: options.tokens.count, by: connections).map { (number: $0 + 1, token: options.tokens[$0]) }
                tasks.addTask {
                    try await connection(options, devices: devices, budget: budget, counters: counters, interval: interval, group: group)
                }
            }
            var total = LoadResult()
            for try await result in tasks { total.merge(result) }
            return total
        }
        var result = results
        result.elapsed = ContinuousClock.now - started
        return result
    }

    private static func connection(
        _ options: LoadOptions, devices: [(number: Int, token: String)], budget: LoadBudget, counters: LoadCounters, interval: Duration?,
        group: any EventLoopGroup
    ) async throws -> LoadResult {
        let connectStart = ContinuousClock.now
        let done = group.any().makePromise(of: LoadResult.self)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPLoadHandler(options: options, devices: devices, budget: budget, counters: counters, interval: interval, done: done))
                }
            }
            .connect(host: options.host, port: options.port).get()
        let connected = ContinuousClock.now - connectStart
        var result = try await done.futureResult.get()
        result.connect.record(microseconds: UInt64(connected.components.seconds * 1_000_000 + connected.components.attoseconds / 1_000_000_000_000))
        try? await channel.close()
        return result
    }
}

/// One keep-alive connection of `bench http`, on its event loop.
final class HTTPLoadHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let options: LoadOptions
    private let devices: [(number: Int, token: String)]
    private let budget: LoadBudget
    private let counters: LoadCounters
    private let interval: TimeAmount?
    private let done: EventLoopPromise<LoadResult>
    private var sequences: [Int]
    private var next = 0
    private var sentAt = NIODeadline.now()
    private var status: HTTPResponseStatus = .ok
    private var result = LoadResult()
    private var nextSend = NIODeadline.now()
    private var finished = false

    init(
        options: LoadOptions, devices: [(number: Int, token: String)], budget: LoadBudget, counters: LoadCounters, interval: Duration?,
        done: EventLoopPromise<LoadResult>
    ) {
        self.options = options
        self.devices = devices
        self.budget = budget
        self.counters = counters
        self.interval = interval.map { .nanoseconds(Int64($0.components.seconds * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000)) }
        self.done = done
        self.sequences = Array(repeating: 0, count: devices.count)
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNext(context: context)
    }

    private func sendNext(context: ChannelHandlerContext) {
        guard budget.take() else { return finish() }
        if let interval {
            let now = NIODeadline.now()
            if nextSend > now {
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(deadline: nextSend) { bound.value.0.send(context: bound.value.1) }
                nextSend = nextSend + interval
                return
            }
            nextSend = now + interval
        }
        send(context: context)
    }

    private func send(context: ChannelHandlerContext) {
        let device = next % devices.count
        next += 1
        sequences[device] += 1
        let now = EpochClock.nowMilliseconds()
        let body = options.template.render(seq: sequences[device], ts: now, device: devices[device].number)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/v1/\(devices[device].token)/telemetry")
        head.headers.add(name: "host", value: options.host)
        head.headers.add(name: "content-type", value: "application/json")
        head.headers.add(name: "content-length", value: String(body.count))
        sentAt = .now()
        result.sent += 1
        counters.sent.add(1, ordering: .relaxed)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
        case .body:
            break
        case .end:
            let elapsed = NIODeadline.now() - sentAt
            if status == .ok {
                result.acknowledged += 1
                counters.acknowledged.add(1, ordering: .relaxed)
                result.latency.record(microseconds: UInt64(max(0, elapsed.nanoseconds / 1000)))
            } else {
                result.refused[String(status.code), default: 0] += 1
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
