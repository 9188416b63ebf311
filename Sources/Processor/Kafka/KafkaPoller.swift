import CRdKafka
import NIOCore
import Synchronization

/// Serves librdkafka's main queue (delivery reports, errors, logs) on an
/// event loop instead of a thread of its own.
///
/// librdkafka calls `wake` from its broker thread when a report is queued
/// (rd_kafka_queue_cb_event_enable); the poller then runs one non-blocking
/// `rd_kafka_poll` on its loop and settles the reports there. Completions of
/// connections on that loop are answered in place, the others get their
/// list in one `execute`. A dedicated poll thread cost a thread wake-up and
/// an event-loop wake-up for every batch of reports, and one more hand-off
/// on every acknowledgement's way back.
final class KafkaPoller: @unchecked Sendable {
    // @unchecked: `handle` is thread-safe in librdkafka; `poll` runs only
    // on `loop`; the rest is atomic or set before the poller is shared.
    let loop: any EventLoop
    private let handle: OpaquePointer
    private let queue: OpaquePointer
    private let callbacks: KafkaCallbacks
    /// A serve is booked on the loop and has not begun.
    private let booked = Atomic<Bool>(false)
    private let running = Atomic<Bool>(true)
    /// A poll every 100 ms as well, in case a wake-up was ever missed.
    private let backstop = Mutex<RepeatedTask?>(nil)

    init(handle: OpaquePointer, callbacks: KafkaCallbacks, loop: any EventLoop) {
        self.handle = handle
        self.callbacks = callbacks
        self.loop = loop
        self.queue = rd_kafka_queue_get_main(handle)
    }

    /// Starts triggering; the poller must outlive the handle's last report
    /// (KafkaSink keeps it until `stop`).
    func start() {
        rd_kafka_queue_cb_event_enable(queue, { _, opaque in
            guard let opaque else { return }
            Unmanaged<KafkaPoller>.fromOpaque(opaque).takeUnretainedValue().wake()
        }, Unmanaged.passUnretained(self).toOpaque())
        let task = loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { [self] _ in
            serve()
        }
        backstop.withLock { $0 = task }
    }

    /// From librdkafka's thread: book one serve unless one is already booked.
    private func wake() {
        guard !booked.exchange(true, ordering: .acquiringAndReleasing) else { return }
        loop.execute { [self] in serve() }
    }

    /// On the loop: everything queued so far is served. The flag is cleared
    /// first, so a report queued during the poll books the next serve.
    private func serve() {
        booked.store(false, ordering: .releasing)
        guard running.load(ordering: .acquiring) else { return }
        rd_kafka_poll(handle, 0)
        callbacks.settleReports(servingLoop: loop)
    }

    /// Stops triggering and serves what is left (a final purge's reports).
    /// Not from the poller's own loop, which it waits on.
    func stop() {
        rd_kafka_queue_cb_event_enable(queue, nil, nil)
        backstop.withLock { $0?.cancel(); $0 = nil }
        let final: @Sendable () -> Void = { [self] in
            serve()
            running.store(false, ordering: .releasing)
        }
        if loop.inEventLoop {
            final()
        } else {
            try? loop.submit(final).wait()
        }
    }

    deinit {
        rd_kafka_queue_destroy(queue)
    }
}
