import Logging
import Processor
import ProcessorAPI
import ServiceLifecycle
import Synchronization
import Testing

/// A sink whose `send` can be held closed, to watch batches form while it is busy.
final class GateSink: MessageSink {
    let name = "kafka"
    private let state = Mutex<(batches: [Int], open: Bool, waiters: [CheckedContinuation<Void, Never>])>(([], true, []))

    var batchSizes: [Int] { state.withLock { $0.batches } }

    func close() { state.withLock { $0.open = false } }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func send(_ batch: [GatewayMessage]) async {
        state.withLock { $0.batches.append(batch.count) }
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
        for message in batch { message.completion.complete(.delivered) }
    }

    func isReachable() async -> Bool { true }
    func drain(timeout: Duration) async -> Int { 0 }
}

@Suite("Processor: natural batching")
struct MessageProcessorTests {
    func withProcessor(
        _ configuration: ProcessorConfiguration,
        sink: GateSink,
        clock: ManualClock = ManualClock(),
        _ body: (MessageProcessor) async throws -> Void
    ) async throws {
        let processor = MessageProcessor(
            configuration: configuration, sink: sink, metrics: GatewayMetrics(), logger: testLogger, now: { clock.now })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processor.run() }
            try await body(processor)
            processor.stopAccepting()
            sink.open()
            try await group.waitForAll()
        }
    }

    @Test("an idle sink takes a single message at once, not after BATCH_TIMEOUT")
    func idleSinkTakesAtOnce() async throws {
        let sink = GateSink()
        try await withProcessor(ProcessorConfiguration(batchSize: 100, batchTimeout: .seconds(60)), sink: sink) { processor in
            let completion = RecordingCompletion()
            #expect(processor.submit(message(completion: completion)) == .accepted)
            // Bounded well below the 60 s BATCH_TIMEOUT.
            #expect(await waitUntil(timeout: .seconds(5)) { completion.outcome == .delivered })
            #expect(sink.batchSizes == [1])
        }
    }

    @Test("while a batch is in flight the next ones gather, up to BATCH_SIZE")
    func batchesGather() async throws {
        let sink = GateSink()
        try await withProcessor(ProcessorConfiguration(batchSize: 100, batchTimeout: .seconds(60)), sink: sink) { processor in
            sink.close()
            #expect(processor.submit(message()) == .accepted)
            #expect(await waitUntil { sink.batchSizes == [1] })
            let completions = (0..<250).map { _ in RecordingCompletion() }
            for completion in completions { #expect(processor.submit(message(completion: completion)) == .accepted) }
            #expect(processor.queueDepth == 250)
            sink.open()
            #expect(await waitUntil { completions.allSatisfy { $0.outcome == .delivered } })
            #expect(sink.batchSizes == [1, 100, 100, 50])
        }
    }

    @Test("a full queue refuses at once with queue_full")
    func queueFull() async throws {
        let sink = GateSink()
        try await withProcessor(ProcessorConfiguration(queueCapacity: 10, batchSize: 5, batchTimeout: .seconds(60)), sink: sink) { processor in
            sink.close()
            #expect(processor.submit(message()) == .accepted)
            #expect(await waitUntil { sink.batchSizes == [1] })
            for _ in 0..<10 { #expect(processor.submit(message()) == .accepted) }
            let refused = RecordingCompletion()
            #expect(processor.submit(message(completion: refused)) == .refused(.queueFull))
            #expect(refused.outcome == nil, "a refused message is answered by its transport, not completed")
        }
    }

    @Test("QUEUE_MAX_BYTES refuses with queue_full while the count is still low; the bytes are given back as batches go out")
    func queueMaxBytes() async throws {
        let sink = GateSink()
        let large = String(repeating: "x", count: 10_000)
        // Each message counts 10,000 value bytes + 128: three fit in 32 KiB, a fourth does not.
        let configuration = ProcessorConfiguration(queueCapacity: 1_000, queueMaxBytes: 32 * 1024, batchSize: 100, batchTimeout: .seconds(60))
        try await withProcessor(configuration, sink: sink) { processor in
            sink.close()
            #expect(processor.submit(message(large)) == .accepted)
            #expect(await waitUntil { sink.batchSizes == [1] })
            for _ in 0..<3 { #expect(processor.submit(message(large)) == .accepted) }
            #expect(processor.submit(message(large)) == .refused(.queueFull))
            // Small messages still fit beside them.
            #expect(processor.submit(message()) == .accepted)
            #expect(processor.queueDepth == 4)
            sink.open()
            #expect(await waitUntil { processor.queueDepth == 0 })
            for _ in 0..<3 { #expect(processor.submit(message(large)) == .accepted) }
        }
    }

    @Test("a message that waits longer than BATCH_TIMEOUT for a busy sink fails with sink_timeout")
    func expiry() async throws {
        let sink = GateSink()
        let clock = ManualClock()
        try await withProcessor(ProcessorConfiguration(batchSize: 10, batchTimeout: .seconds(2)), sink: sink, clock: clock) { processor in
            sink.close()
            #expect(processor.submit(message()) == .accepted)
            #expect(await waitUntil { sink.batchSizes == [1] })
            let waiting = (0..<3).map { _ in RecordingCompletion() }
            for completion in waiting { _ = processor.submit(message(completion: completion)) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(waiting.allSatisfy { $0.outcome == nil }, "not expired before BATCH_TIMEOUT")
            clock.advance(.seconds(3))
            #expect(await waitUntil { waiting.allSatisfy { $0.outcome == .failed(.sinkTimeout) } })
            #expect(processor.queueDepth == 0)
            sink.open()
            try await Task.sleep(for: .milliseconds(50))
            #expect(sink.batchSizes == [1], "expired messages never reach the sink")
            #expect(waiting.allSatisfy { $0.all.count == 1 }, "completed exactly once")
        }
    }

    @Test("a message nobody waits on (MQTT QoS 0) is never expired: it goes out late, in order, with the ones behind it")
    func noExpiryWithoutWaiter() async throws {
        let sink = GateSink()
        let clock = ManualClock()
        try await withProcessor(ProcessorConfiguration(batchSize: 10, batchTimeout: .seconds(2)), sink: sink, clock: clock) { processor in
            sink.close()
            #expect(processor.submit(message()) == .accepted)
            #expect(await waitUntil { sink.batchSizes == [1] })
            let unanswered = (0..<3).map { _ in RecordingCompletion(awaitsAnswer: false) }
            for completion in unanswered { _ = processor.submit(message(completion: completion)) }
            let waiting = RecordingCompletion()
            _ = processor.submit(message(completion: waiting))
            clock.advance(.seconds(3))
            try await Task.sleep(for: .milliseconds(300))
            #expect(unanswered.allSatisfy { $0.outcome == nil }, "not failed: nobody waits for them")
            #expect(processor.queueDepth == 4, "the look for expired messages stops at the first one nobody waits on")
            sink.open()
            // The waited-on message behind them expires as its batch is taken; the others are delivered.
            #expect(await waitUntil { unanswered.allSatisfy { $0.outcome == .delivered } && waiting.outcome == .failed(.sinkTimeout) })
            #expect(sink.batchSizes == [1, 3])
        }
    }

    @Test("after stopAccepting new messages are refused and queued ones still go out")
    func drainOnStop() async throws {
        let sink = GateSink()
        let processor = MessageProcessor(
            configuration: ProcessorConfiguration(batchSize: 10, batchTimeout: .seconds(60)), sink: sink,
            metrics: GatewayMetrics(), logger: testLogger)
        sink.close()
        let queued = (0..<5).map { _ in RecordingCompletion() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processor.run() }
            for completion in queued { _ = processor.submit(message(completion: completion)) }
            #expect(await waitUntil { !sink.batchSizes.isEmpty })
            processor.stopAccepting()
            #expect(processor.submit(message()) == .refused(.shuttingDown))
            sink.open()
            try await group.waitForAll()
        }
        #expect(queued.allSatisfy { $0.outcome == .delivered })
    }
}

/// A sink that can take messages inline (as Kafka's does), or refuse to.
final class InlineSink: MessageSink {
    let name = "kafka"
    let takesInline = true
    private let state = Mutex<(inline: [Int64], batched: [Int64], accept: Bool)>(([], [], true))

    var inline: [Int64] { state.withLock { $0.inline } }
    var batched: [Int64] { state.withLock { $0.batched } }
    func refuseInline() { state.withLock { $0.accept = false } }

    func sendNow(_ message: GatewayMessage) -> Bool {
        let taken = state.withLock { state -> Bool in
            guard state.accept else { return false }
            state.inline.append(message.entries[0].ts)
            return true
        }
        if taken { message.completion.complete(.delivered) }
        return taken
    }

    func send(_ batch: [GatewayMessage]) async {
        state.withLock { $0.batched += batch.map { $0.entries[0].ts } }
        for message in batch { message.completion.complete(.delivered) }
    }

    func isReachable() async -> Bool { true }
    func drain(timeout: Duration) async -> Int { 0 }
}

@Suite("Processor: inline hand-off to an idle sink")
struct InlineHandOffTests {
    @Test("an idle sink that takes work inline gets it on the submitting thread; refused work goes through the queue, in order")
    func inlineThenQueue() async throws {
        let sink = InlineSink()
        let processor = MessageProcessor(
            configuration: ProcessorConfiguration(batchSize: 10, batchTimeout: .seconds(60)), sink: sink,
            metrics: GatewayMetrics(), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processor.run() }
            let first = RecordingCompletion()
            #expect(processor.submit(message(ts: 1, completion: first)) == .accepted)
            // Completed before submit returned: no queue, no batcher.
            #expect(first.outcome == .delivered)
            #expect(sink.inline == [1] && processor.queueDepth == 0)

            sink.refuseInline()
            let later = (2...4).map { _ in RecordingCompletion() }
            for (offset, completion) in later.enumerated() {
                #expect(processor.submit(message(ts: Int64(2 + offset), completion: completion)) == .accepted)
            }
            #expect(await waitUntil { later.allSatisfy { $0.outcome == .delivered } })
            #expect(sink.batched == [2, 3, 4])
            processor.stopAccepting()
            try await group.waitForAll()
        }
    }
}
