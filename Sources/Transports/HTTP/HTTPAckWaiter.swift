import NIOCore
import ProcessorAPI
import Synchronization

/// Waits for the sink's verdict on one request's message, bounded by
/// HTTP_ACK_TIMEOUT. The first of verdict and time-out wins; the other is
/// ignored, so the promise is completed exactly once.
final class HTTPAckWaiter: DeliveryCompletion {
    private let promise: EventLoopPromise<DeliveryOutcome>
    private let completed = Atomic<Bool>(false)
    private let timerFired = Atomic<Bool>(false)

    init(eventLoop: any EventLoop) {
        self.promise = eventLoop.makePromise(of: DeliveryOutcome.self)
    }

    func complete(_ outcome: DeliveryOutcome) {
        if !completed.exchange(true, ordering: .acquiringAndReleasing) {
            promise.succeed(outcome)
        }
    }

    /// The verdict, or `.failed(.sinkTimeout)` after `timeout`; `timedOut` is
    /// true when the time-out decided it.
    func wait(timeout: Duration, on eventLoop: any EventLoop) async -> (outcome: DeliveryOutcome, timedOut: Bool) {
        let (seconds, attoseconds) = timeout.components
        let amount = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let timer = eventLoop.scheduleTask(in: amount) { [self] in
            if !completed.exchange(true, ordering: .acquiringAndReleasing) {
                timerFired.store(true, ordering: .releasing)
                promise.succeed(.failed(.sinkTimeout))
            }
        }
        let outcome = (try? await promise.futureResult.get()) ?? .failed(.sinkError)
        timer.cancel()
        return (outcome, timerFired.load(ordering: .acquiring))
    }
}
