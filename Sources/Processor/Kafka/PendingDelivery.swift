import ProcessorAPI
import Synchronization

/// One gateway message whose records are in librdkafka's hands. Retained once
/// per produced record (the record's opaque); each delivery report releases
/// one retain. The message completes when its last record is delivered, or
/// at its first failure.
final class PendingDelivery: Sendable {
    let completion: any DeliveryCompletion
    let enqueuedAt: ContinuousClock.Instant
    private let remaining: Atomic<Int>
    private let failed = Atomic<Bool>(false)

    init(completion: any DeliveryCompletion, records: Int, enqueuedAt: ContinuousClock.Instant) {
        self.completion = completion
        self.enqueuedAt = enqueuedAt
        self.remaining = Atomic(records)
    }

    /// Records the verdict on `count` records; returns the message's outcome
    /// when this call decided it. The caller completes the message.
    func settle(_ outcome: DeliveryOutcome, records count: Int = 1) -> DeliveryOutcome? {
        var decided: DeliveryOutcome?
        if case .failed = outcome, !failed.exchange(true, ordering: .acquiringAndReleasing) {
            decided = outcome
        }
        let left = remaining.subtract(count, ordering: .acquiringAndReleasing).newValue
        if left == 0, !failed.load(ordering: .acquiring) {
            decided = .delivered
        }
        return decided
    }
}
