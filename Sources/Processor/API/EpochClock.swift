#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import NIOCore

/// Wall-clock milliseconds since the Unix epoch, the unit of every `ts`.
package enum EpochClock {
    package static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

extension Duration {
    /// The span in whole nanoseconds, as NIO's `TimeAmount`, dispatch and
    /// the latency histograms count it.
    @inlinable package var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The same span as NIO counts it (inlinable: the CoAP endpoint takes
    /// it for every request's duplicate-table expiry).
    @inlinable package var timeAmount: TimeAmount { .nanoseconds(wholeNanoseconds) }
}
