/// `bench verify`: per device, was every acknowledged sequence number
/// delivered exactly once and in order, and how long did it take from the
/// send timestamp in the payload to the Kafka record's timestamp.
package struct SequenceVerifier: Sendable {
    package struct DeviceReport: Sendable, Equatable {
        package var received = 0
        /// Acknowledged but not in the topic.
        package var missing: [Int] = []
        /// In the topic more than once.
        package var duplicates: [Int] = []
        /// Arrived after a higher sequence number of the same device.
        package var outOfOrder: [Int] = []
    }

    private var seen: [String: [Int: Int]] = [:]
    private var highest: [String: Int] = [:]
    private var outOfOrder: [String: [Int]] = [:]
    package private(set) var latency = LatencyHistogram()

    package init() {}

    /// One record, in partition order (a device's records share a partition).
    /// `sentAt` is the payload's send time and `recordedAt` the record's
    /// Kafka timestamp, both ms since the epoch, when known.
    package mutating func add(device: String, seq: Int, sentAt: Int64?, recordedAt: Int64?) {
        seen[device, default: [:]][seq, default: 0] += 1
        if let top = highest[device], seq < top {
            outOfOrder[device, default: []].append(seq)
        } else {
            highest[device] = seq
        }
        if let sentAt, let recordedAt, recordedAt >= sentAt {
            latency.record(microseconds: UInt64(recordedAt - sentAt) * 1000)
        }
    }

    /// Each device's report; `acknowledged` gives, per device, the sequence
    /// numbers the gateway acknowledged (nil: 1 through the highest seen).
    package func reports(acknowledged: [String: [Int]]? = nil) -> [String: DeviceReport] {
        var reports: [String: DeviceReport] = [:]
        let devices = Set(seen.keys).union(acknowledged?.keys ?? [String: [Int]]().keys)
        for device in devices {
            let counts = seen[device] ?? [:]
            let expected = acknowledged?[device] ?? Array(1...Swift.max(1, highest[device] ?? 0))
            var report = DeviceReport()
            report.received = counts.values.reduce(0, +)
            report.missing = expected.filter { counts[$0] == nil }.sorted()
            report.duplicates = counts.filter { $0.value > 1 }.map(\.key).sorted()
            report.outOfOrder = outOfOrder[device] ?? []
            reports[device] = report
        }
        return reports
    }
}
