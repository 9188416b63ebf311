import Logging
import NIOConcurrencyHelpers
import NIOCore
import ProcessorAPI
import ServiceLifecycle

/// The bounded queue between the transports and the sink, and the batcher
/// that feeds the sink.
///
/// Natural batching: the batcher hands the sink everything queued (up to
/// BATCH_SIZE) the moment the sink is free, so an idle gateway forwards a
/// single message at once and a busy one forms large batches by itself.
/// BATCH_TIMEOUT is only the bound on waiting for a busy sink.
package final class MessageProcessor: MessageIngest, Service {
    private struct State {
        var queue = CircularBuffer<GatewayMessage>(initialCapacity: 1024)
        /// `queuedBytes` of every message in `queue` (QUEUE_MAX_BYTES).
        var bytes = 0
        /// The batcher, parked while the queue is empty.
        var waiter: CheckedContinuation<Void, Never>?
        var accepting = true
        /// Someone is handing messages to the sink: the batcher or a
        /// submitter sending inline. One at a time keeps each device's order.
        var sinkBusy = false
    }

    /// Taken for every message by both event loops and by the batcher.
    /// NIOLock (a plain pthread mutex), not Synchronization.Mutex: on Linux
    /// the latter is a priority-inheritance futex whose contended unlock
    /// hands the lock to a sleeping waiter in the kernel, so under a flood
    /// the three threads queued behind each other's wake-ups (a QoS 0 flood
    /// forwarded 117,000–155,000 msg/s with it, 160,000–193,000 without).
    private let state = NIOLockedValueBox(State())
    private let configuration: ProcessorConfiguration
    private let sink: any MessageSink
    private let metrics: GatewayMetrics
    private let logger: Logger
    /// The clock BATCH_TIMEOUT is measured on (injected by tests).
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Whether the sink may be handed messages on the submitter's thread.
    private let sinkTakesInline: Bool

    package init(
        configuration: ProcessorConfiguration,
        sink: any MessageSink,
        metrics: GatewayMetrics,
        logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.configuration = configuration
        self.sink = sink
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.sinkTakesInline = sink.takesInline
    }

    // MARK: Ingest (any thread, never suspends)

    package func submit(_ message: GatewayMessage) -> IngestResult {
        take(message, countingRefusal: true)
    }

    package func offer(_ message: GatewayMessage) -> IngestResult {
        take(message, countingRefusal: false)
    }

    private func take(_ message: GatewayMessage, countingRefusal: Bool) -> IngestResult {
        var message = message
        message.enqueuedAt = now()
        enum Decision { case refused(DropReason), queued(CheckedContinuation<Void, Never>?), inline }
        let decision = state.withLockedValue { state -> Decision in
            guard state.accepting else { return .refused(.shuttingDown) }
            // An idle sink that can take work on this thread gets it at once:
            // no queue, no wake-up of the batcher (the common case at low and
            // moderate load; under load the queue batches as before).
            if !state.sinkBusy, state.queue.isEmpty, sinkTakesInline {
                state.sinkBusy = true
                return .inline
            }
            guard state.queue.count < configuration.queueCapacity,
                state.bytes + message.queuedBytes <= configuration.queueMaxBytes || state.queue.isEmpty
            else { return .refused(.queueFull) }
            state.queue.append(message)
            state.bytes += message.queuedBytes
            let waiter = state.waiter
            state.waiter = nil
            return .queued(waiter)
        }
        switch decision {
        case .refused(let reason):
            if countingRefusal { metrics.dropped(reason) }
            return .refused(reason)
        case .queued(let waiter):
            waiter?.resume()
            return .accepted
        case .inline:
            let taken = sink.sendNow(message)
            if taken { metrics.batchSize(1) }
            let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                state.sinkBusy = false
                // Not taken (librdkafka's queue is full): first in line for the batcher.
                if !taken {
                    state.queue.prepend(message)
                    state.bytes += message.queuedBytes
                }
                // Wake a batcher that waited for this send: for queued work,
                // or to finish a shutdown that began meanwhile.
                guard !state.queue.isEmpty || !state.accepting else { return nil }
                let waiter = state.waiter
                state.waiter = nil
                return waiter
            }
            waiter?.resume()
            return .accepted
        }
    }

    /// Messages waiting for the sink.
    package var queueDepth: Int { state.withLockedValue { $0.queue.count } }

    // MARK: Service

    package func run() async throws {
        // Cancellation (the group giving up) stops intake like a graceful shutdown.
        await withTaskCancellationHandler {
            await runUntilShutdown()
        } onCancel: {
            self.stopAccepting()
        }
    }

    private func runUntilShutdown() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.expireLoop() }
                await self.batchLoop()
                group.cancelAll()
            }
            let undelivered = await sink.drain(timeout: configuration.shutdownTimeout)
            if undelivered > 0 {
                logger.error("shutdown: messages not confirmed by the sink", metadata: ["count": "\(undelivered)"])
            } else {
                logger.info("shutdown: every accepted message was delivered")
            }
        } onGracefulShutdown: {
            self.stopAccepting()
        }
    }

    /// Refuses new messages; the batcher drains what is queued and stops.
    package func stopAccepting() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.accepting = false
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    private func batchLoop() async {
        // One array for every batch: its storage is reused, not allocated
        // and freed per batch (the sink has let go of it when `send` returns).
        var batch: [GatewayMessage] = []
        batch.reserveCapacity(configuration.batchSize)
        while await nextBatch(into: &batch) {
            metrics.batchSize(batch.count)
            await sink.send(batch)
            batch.removeAll(keepingCapacity: true)
            state.withLockedValue { $0.sinkBusy = false }
        }
    }

    /// Waits for work and puts it in `batch`; false once the processor is
    /// stopped and empty.
    private func nextBatch(into batch: inout [GatewayMessage]) async -> Bool {
        while true {
            let (expired, stopped) = takeBatch(into: &batch)
            fail(expired, .sinkTimeout)
            if !batch.isEmpty { return true }
            if stopped { return false }
            if !expired.isEmpty { continue }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if (!state.queue.isEmpty && !state.sinkBusy) || (!state.accepting && !state.sinkBusy) { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func takeBatch(into batch: inout [GatewayMessage]) -> (expired: [GatewayMessage], stopped: Bool) {
        let deadline = now() - configuration.batchTimeout
        return state.withLockedValue { state in
            var expired: [GatewayMessage] = []
            // A submitter is sending inline: wait for it (it wakes the batcher).
            guard !state.sinkBusy else { return (expired, false) }
            while batch.count < configuration.batchSize, let message = state.queue.popFirst() {
                state.bytes -= message.queuedBytes
                if message.enqueuedAt < deadline, message.completion.awaitsAnswer {
                    expired.append(message)
                } else {
                    batch.append(message)
                }
            }
            metrics.queueDepth(state.queue.count)
            if !batch.isEmpty { state.sinkBusy = true }
            return (expired, !state.accepting && state.queue.isEmpty)
        }
    }

    /// Fails messages that waited longer than BATCH_TIMEOUT for a busy sink.
    /// The queue is FIFO, so only its head needs looking at. A message
    /// nobody waits on (MQTT QoS 0) is never failed: it ends the look, and
    /// the ones behind it are checked as batches are taken.
    private func expireLoop() async {
        let period = max(configuration.batchTimeout / 10, .milliseconds(10))
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            let deadline = now() - configuration.batchTimeout
            let expired = state.withLockedValue { state -> [GatewayMessage] in
                var expired: [GatewayMessage] = []
                while let first = state.queue.first, first.enqueuedAt < deadline, first.completion.awaitsAnswer {
                    state.bytes -= first.queuedBytes
                    expired.append(state.queue.removeFirst())
                }
                return expired
            }
            fail(expired, .sinkTimeout)
        }
    }

    private func fail(_ messages: [GatewayMessage], _ reason: DropReason) {
        guard !messages.isEmpty else { return }
        metrics.dropped(reason, count: messages.count)
        for message in messages { message.completion.complete(.failed(reason)) }
    }
}
