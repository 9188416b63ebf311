/// Latencies in microseconds, in log-linear buckets: exact below 128 µs,
/// then 64 buckets per power of two (under 1.6 % error), so a run of
/// millions of samples costs a few kilobytes and merging is adding arrays.
/// The first few samples are kept as they are and the buckets allocated
/// only past them: 10,000 idle connections each carry their one connect
/// time, not 30 KiB of buckets to allocate, zero and merge.
package struct LatencyHistogram: Sendable, Equatable {
    private static let subBuckets = 64
    /// Samples kept as values until the buckets are allocated.
    private static let fewSamples = 8
    private var counts: [UInt64]
    private var few: [UInt64] = []
    package private(set) var count: UInt64 = 0
    package private(set) var max: UInt64 = 0
    private var sum: UInt64 = 0

    private static let bucketCount = 128 + 58 * subBuckets

    package init() {
        counts = []
    }

    static func bucket(_ value: UInt64) -> Int {
        if value < 128 { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount  // ≥ 7
        let shift = magnitude - 6
        let sub = Int((value >> UInt64(shift)) & 63)
        return 128 + (magnitude - 7) * subBuckets + sub
    }

    /// The largest value that falls in a bucket.
    static func upperBound(_ bucket: Int) -> UInt64 {
        if bucket < 128 { return UInt64(bucket) }
        let magnitude = (bucket - 128) / subBuckets + 7
        let sub = UInt64((bucket - 128) % subBuckets)
        let shift = UInt64(magnitude - 6)
        return ((64 + sub) << shift) + (1 << shift) - 1
    }

    package mutating func record(microseconds value: UInt64) {
        if counts.isEmpty, few.count < Self.fewSamples {
            few.append(value)
        } else {
            allocateBuckets()
            counts[Self.bucket(value)] += 1
        }
        count += 1
        sum &+= value
        if value > max { max = value }
    }

    /// Moves the few samples into buckets, allocated now.
    private mutating func allocateBuckets() {
        guard counts.isEmpty else { return }
        counts = Array(repeating: 0, count: Self.bucketCount)
        for value in few { counts[Self.bucket(value)] += 1 }
        few = []
    }

    package mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        if other.counts.isEmpty, counts.isEmpty, few.count + other.few.count <= Self.fewSamples {
            few.append(contentsOf: other.few)
        } else {
            allocateBuckets()
            if other.counts.isEmpty {
                for value in other.few { counts[Self.bucket(value)] += 1 }
            } else {
                for index in counts.indices { counts[index] += other.counts[index] }
            }
        }
        count += other.count
        sum &+= other.sum
        max = Swift.max(max, other.max)
    }

    /// The value at or below which `percent` of the samples lie (nearest
    /// rank, reported as its bucket's upper bound, never above the maximum).
    package func percentile(_ percent: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((percent / 100 * Double(count)).rounded(.up)))
        var bucketed = self
        bucketed.allocateBuckets()
        var seen: UInt64 = 0
        for (index, bucketCount) in bucketed.counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= rank { return Swift.min(Self.upperBound(index), max) }
        }
        return max
    }

    package var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }
}
