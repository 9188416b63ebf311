import Synchronization

/// Slots for connections that are not yet (or never) a device session: MQTT
/// sockets before CONNECT, HTTP connections. A total cap keeps memory
/// bounded; a per-address cap keeps one address (or a flood of spoofed
/// ones behind a NAT) from taking every slot from the real devices. The
/// lock is taken once when a slot is taken and once when it is given back,
/// not per packet.
package final class ConnectionAdmission: Sendable {
    package enum Refusal: Sendable, Equatable {
        /// `total` slots are taken.
        case full
        /// This address holds `perAddress` slots.
        case perAddress
    }

    private struct State {
        var open = 0
        var byAddress: [String: Int] = [:]
    }

    package let total: Int
    package let perAddress: Int
    private let state = Mutex(State())

    package init(total: Int, perAddress: Int) {
        self.total = total
        self.perAddress = perAddress
    }

    /// Takes a slot for `address` (an IP address without the port), or says
    /// why not. Every slot taken is given back once with `release`.
    package func admit(_ address: String) -> Refusal? {
        state.withLock { state in
            guard state.open < total else { return .full }
            let held = state.byAddress[address, default: 0]
            guard held < perAddress else { return .perAddress }
            state.open += 1
            state.byAddress[address] = held + 1
            return nil
        }
    }

    package func release(_ address: String) {
        state.withLock { state in
            guard let held = state.byAddress[address] else { return }
            state.open -= 1
            state.byAddress[address] = held > 1 ? held - 1 : nil
        }
    }

    /// Slots taken now (for tests and the overload log line).
    package var open: Int { state.withLock { $0.open } }
}

/// One warning per address per interval: a flood of bad packets from one
/// address writes one log line, not one per packet (the count goes to the
/// metrics). Remembers at most `capacity` addresses; when full, the
/// expired ones are forgotten, and if none has expired the warning is
/// suppressed (a flood from very many addresses is a flood either way).
package final class WarningThrottle: Sendable {
    private let interval: Duration
    private let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private let last = Mutex<[String: ContinuousClock.Instant]>([:])

    package init(interval: Duration = .seconds(60), capacity: Int = 4096, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.interval = interval
        self.capacity = capacity
        self.now = now
    }

    /// Whether a warning about `address` should be written now.
    package func shouldWarn(_ address: String) -> Bool {
        let instant = now()
        return last.withLock { last in
            if let previous = last[address], instant - previous < interval { return false }
            if last[address] == nil, last.count >= capacity {
                last = last.filter { instant - $0.value < interval }
                if last.count >= capacity { return false }
            }
            last[address] = instant
            return true
        }
    }
}

/// Wrong access tokens and admin keys, counted per address: past `limit`
/// failures within `window`, the address is refused for the rest of the
/// window. Only what would cost a registry look-up (a token not in the
/// cache) or an admin request is refused; devices behind the same address
/// whose tokens are cached keep working. Remembers at most `capacity`
/// addresses (the oldest windows are forgotten first).
package final class AuthFailureThrottle: Sendable {
    private struct Entry {
        var failures: Int
        var windowStart: ContinuousClock.Instant
    }

    package let limit: Int
    package let window: Duration
    private let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private let entries = Mutex<[String: Entry]>([:])

    package init(
        limit: Int = 20, window: Duration = .seconds(60), capacity: Int = 65_536,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self.now = now
    }

    /// Whether `address` has used up its failures for this window.
    package func isBlocked(_ address: String) -> Bool {
        let instant = now()
        return entries.withLock { entries in
            guard let entry = entries[address], instant - entry.windowStart < window else { return false }
            return entry.failures >= limit
        }
    }

    /// Counts a failure; returns whether the address is now blocked.
    @discardableResult
    package func failed(_ address: String) -> Bool {
        let instant = now()
        return entries.withLock { entries in
            if var entry = entries[address], instant - entry.windowStart < window {
                entry.failures += 1
                entries[address] = entry
                return entry.failures >= limit
            }
            if entries.count >= capacity {
                entries = entries.filter { instant - $0.value.windowStart < window }
                if entries.count >= capacity { return false }
            }
            entries[address] = Entry(failures: 1, windowStart: instant)
            return limit <= 1
        }
    }
}
