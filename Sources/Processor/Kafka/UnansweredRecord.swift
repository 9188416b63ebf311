import ProcessorAPI

/// The opaque of a record nobody waits for: a one-record message whose
/// completion does not answer anyone (MQTT QoS 0, connectivity events).
///
/// Such a record needs no `PendingDelivery` (an object allocated, retained
/// and settled for every record): its delivery report is only counted. The
/// opaque carries the record's enqueue time instead, in nanoseconds since
/// `epoch`, shifted left with the low bit set; an object's address never has
/// that bit set, so the two kinds of opaque cannot be confused.
enum UnansweredRecord {
    /// The origin of the enqueue times (the first use, at the sink's start).
    static let epoch = ContinuousClock.now

    static func nanoseconds(since instant: ContinuousClock.Instant) -> Int64 {
        (instant - epoch).wholeNanoseconds
    }

    static func opaque(enqueuedAt: ContinuousClock.Instant) -> UnsafeMutableRawPointer {
        let nanoseconds = UInt(max(0, Self.nanoseconds(since: enqueuedAt)))
        // Non-nil: the low bit is set.
        return UnsafeMutableRawPointer(bitPattern: nanoseconds << 1 | 1)!
    }

    /// The enqueue time a tagged opaque carries; nil for an object's address.
    static func enqueuedNanoseconds(_ opaque: UnsafeMutableRawPointer) -> Int64? {
        let bits = UInt(bitPattern: opaque)
        guard bits & 1 == 1 else { return nil }
        return Int64(bits >> 1)
    }
}
