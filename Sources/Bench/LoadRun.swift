import Foundation
import NIOCore
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
    /// Keep every acknowledged sequence number, per token (`--acknowledged`).
    package var recordAcknowledged = false

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
    /// Sent but neither acknowledged nor refused when the run ended.
    package var unanswered = 0
    /// CoAP: CONs sent again because no ACK came within the time-out.
    package var retransmitted = 0
    /// Connections (or CoAP peers) that were established.
    package var connected = 0
    /// Send to acknowledgement, every message of the run.
    package var latency = LatencyHistogram()
    /// The same, for messages sent inside the steady window only.
    package var steadyLatency = LatencyHistogram()
    package var connect = LatencyHistogram()
    package var elapsed: Duration = .zero
    /// From the first connection attempt to the last one established.
    package var connectPhase: Duration = .zero
    /// Acknowledgements per second over the steady window: the run's whole
    /// seconds without the first and the last (ramp-up and drain).
    package var steadyRate: Double?
    /// Token → acknowledged sequence numbers, when the options ask for them.
    package var acknowledgedSeqs: [String: [Int]] = [:]

    package init() {}

    /// Lines `<token> <seq>`, one per acknowledged message, for `bench verify --acknowledged`.
    package var acknowledgedLines: String {
        acknowledgedSeqs.sorted { $0.key < $1.key }.flatMap { token, seqs in seqs.map { "\(token) \($0)\n" } }.joined()
    }

    mutating func merge(_ other: LoadResult) {
        sent += other.sent
        acknowledged += other.acknowledged
        for (reason, count) in other.refused { refused[reason, default: 0] += count }
        errors += other.errors
        unanswered += other.unanswered
        retransmitted += other.retransmitted
        connected += other.connected
        acknowledgedSeqs.merge(other.acknowledgedSeqs) { $0 + $1 }
        latency.merge(other.latency)
        steadyLatency.merge(other.steadyLatency)
        connect.merge(other.connect)
    }

    /// Counts one acknowledgement's latency, and again in the steady
    /// figure when it was sent inside `window`.
    mutating func recordLatency(sentAt: NIODeadline, now: NIODeadline, window: SteadyWindow) {
        let microseconds = UInt64(max(0, (now - sentAt).nanoseconds / 1000))
        latency.record(microseconds: microseconds)
        if window.contains(sentAt) { steadyLatency.record(microseconds: microseconds) }
    }

    /// One JSON object: counts, rates, latency percentiles in ms.
    package var json: String {
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Double(acknowledged) / seconds : 0
        let connectSeconds = connectPhase.seconds
        let connectRate = connectSeconds > 0 ? Double(connected) / connectSeconds : 0
        func ms(_ value: UInt64) -> String { String(format: "%.2f", Double(value) / 1000) }
        func percentiles(_ histogram: LatencyHistogram) -> String {
            histogram.count == 0 ? "null"
                : #"{"p50":\#(ms(histogram.percentile(50))),"p90":\#(ms(histogram.percentile(90))),"p99":\#(ms(histogram.percentile(99))),"max":\#(ms(histogram.max))}"#
        }
        let reasons = refused.sorted { $0.key < $1.key }.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
        let steady = String(format: "%.1f", steadyRate ?? rate)
        // Like the rate: a run too short for a steady window reports the whole run.
        let steadyLatencies = percentiles(steadyLatency.count > 0 ? steadyLatency : latency)
        return #"{"sent":\#(sent),"acknowledged":\#(acknowledged),"refused":{\#(reasons)},"errors":\#(errors),"unanswered":\#(unanswered),"retransmitted":\#(retransmitted),"connected":\#(connected),"seconds":\#(String(format: "%.3f", seconds)),"rate":\#(String(format: "%.1f", rate)),"steadyRate":\#(steady),"connectRate":\#(String(format: "%.1f", connectRate)),"latencyMs":\#(percentiles(latency)),"steadyLatencyMs":\#(steadyLatencies),"connectMs":\#(percentiles(connect))}"#
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var microseconds: UInt64 { UInt64(max(0, components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000)) }
}

/// Running totals over all connections, for the progress line.
final class LoadCounters: Sendable {
    let sent = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let connected = Atomic<Int>(0)
    /// Microseconds from the start of the run to the latest connection established.
    let lastConnected = Atomic<Int>(0)

    /// `t=3s sent 12000 acked 11936 (3980/s) refused 0 errors 0 in flight 64 connected 100`.
    func line(elapsed: Duration, lastAcknowledged: Int) -> String {
        let (sent, acknowledged, refused, errors) = (
            self.sent.load(ordering: .relaxed), self.acknowledged.load(ordering: .relaxed),
            self.refused.load(ordering: .relaxed), self.errors.load(ordering: .relaxed))
        return "t=\(elapsed.components.seconds)s sent \(sent) acked \(acknowledged) (\(acknowledged - lastAcknowledged)/s) refused \(refused) errors \(errors) in flight \(max(0, sent - acknowledged - refused - errors)) connected \(connected.load(ordering: .relaxed))"
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

/// The clock of one run: a progress line every second, and the samples the
/// steady-window rate is taken from.
final class LoadClock: Sendable {
    let started = ContinuousClock.now
    let counters = LoadCounters()
    let window: SteadyWindow
    private let samples = Mutex<[Int]>([])
    private let sampler = Mutex<Task<Void, Never>?>(nil)

    init(duration: Duration?, progress: (@Sendable (String) -> Void)?) {
        window = SteadyWindow(start: .now(), duration: duration)
        let task = Task { [counters, started] in
            var last = 0
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
                let acknowledged = counters.acknowledged.load(ordering: .relaxed)
                progress?(counters.line(elapsed: ContinuousClock.now - started, lastAcknowledged: last))
                self.samples.withLock { $0.append(acknowledged - last) }
                last = acknowledged
            }
        }
        sampler.withLock { $0 = task }
    }

    /// Counts one connection established now.
    func connected() {
        counters.connected.add(1, ordering: .relaxed)
        let offset = Int((ContinuousClock.now - started).microseconds)
        var current = counters.lastConnected.load(ordering: .relaxed)
        while offset > current {
            let (exchanged, original) = counters.lastConnected.compareExchange(expected: current, desired: offset, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// Stops sampling and stamps the result with the elapsed time and the
    /// steady-window rate (nil when the run was under three seconds).
    func finish(_ result: inout LoadResult) {
        sampler.withLock { $0?.cancel() }
        result.elapsed = ContinuousClock.now - started
        result.connectPhase = .microseconds(counters.lastConnected.load(ordering: .relaxed))
        let perSecond = samples.withLock { $0 }
        if perSecond.count >= 3 {
            let steady = perSecond.dropFirst().dropLast()
            result.steadyRate = Double(steady.reduce(0, +)) / Double(steady.count)
        }
    }
}

/// The sends whose latency is the run's steady figure: from one second
/// after the start to one second before the deadline (no end for a
/// `--count` run). The same window as `steadyRate`: the connects and the
/// ramp-up at the start, and the disconnects at the end, are left out,
/// as a fixed-rate measurement leaves out its warm-up.
package struct SteadyWindow: Sendable {
    let from: NIODeadline
    let until: NIODeadline?

    package init(start: NIODeadline, duration: Duration?) {
        from = start + .seconds(1)
        until = duration.map { start + $0.timeAmount - .seconds(1) }
    }

    package func contains(_ sentAt: NIODeadline) -> Bool {
        sentAt >= from && until.map { sentAt < $0 } ?? true
    }
}

/// Paces one connection's sends to an interval (its share of `--rate`).
/// Used on the connection's event loop only.
struct SendPacer {
    let interval: TimeAmount?
    private var next = NIODeadline.now()

    init(interval: TimeAmount?) {
        self.interval = interval
    }

    /// Spreads the connections' first sends over one interval instead of a burst.
    mutating func start() {
        guard let interval else { return }
        next = .now() + .nanoseconds(Int64.random(in: 0..<max(1, interval.nanoseconds)))
    }

    /// nil: send now (and the next send is booked); otherwise when to try again.
    mutating func wait() -> NIODeadline? {
        guard let interval else { return nil }
        let now = NIODeadline.now()
        if next > now { return next }
        // After a stall, do not catch up with a burst.
        next = max(next + interval, now - .seconds(1))
        return nil
    }
}
