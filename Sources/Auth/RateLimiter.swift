import Synchronization

/// A token bucket per device (RATE_LIMIT_REQUESTS_PER_SECOND refill,
/// RATE_LIMIT_BURST capacity).
package final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let rate: Double
    /// The sustained rate, as configured.
    package var requestsPerSecond: Double { rate }
    private let burst: Double
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Buckets kept before idle (full) ones are swept.
    private let sweepThreshold: Int

    package init(
        requestsPerSecond: Double,
        burst: Double,
        sweepThreshold: Int = 100_000,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.rate = requestsPerSecond
        self.burst = max(burst, 1)
        self.sweepThreshold = sweepThreshold
        self.now = now
    }

    /// Takes one token for `key`; false when the bucket is empty.
    package func allow(_ key: String) -> Bool {
        let instant = now()
        return buckets.withLock { buckets in
            if buckets.count >= sweepThreshold { sweep(&buckets, at: instant) }
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: instant)
            let elapsed = instant - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = instant
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            return allowed
        }
    }

    /// Removes buckets that have refilled completely: they behave exactly
    /// like a new bucket, so forgetting them changes nothing.
    private func sweep(_ buckets: inout [String: Bucket], at instant: ContinuousClock.Instant) {
        buckets = buckets.filter { _, bucket in
            let elapsed = instant - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            return bucket.tokens + seconds * rate < burst
        }
    }

    package var trackedCount: Int { buckets.withLock { $0.count } }
}
