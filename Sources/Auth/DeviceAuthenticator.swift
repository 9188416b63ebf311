import Foundation
import Logging
import NIOConcurrencyHelpers
import ProcessorAPI
import Synchronization

/// The outcome of presenting an access token.
package enum AuthenticationResult: Sendable {
    case authenticated(DeviceIdentity)
    /// Not URL-safe, empty or too long: refused without a registry look-up.
    case malformed
    case unknown
    case disabled
    /// The registry could not be read; the device should retry.
    case unavailable

    package var isAuthenticated: Bool {
        if case .authenticated = self { return true }
        return false
    }

    /// A wrong token (unknown, disabled or malformed), not a registry failure.
    package var isRefusal: Bool {
        switch self {
        case .malformed, .unknown, .disabled: true
        case .authenticated, .unavailable: false
        }
    }
}

/// Resolves access tokens to devices through an in-memory cache.
///
/// Hits cost one lock and no hashing. Known tokens stay AUTH_CACHE_TTL; unknown
/// tokens are remembered for a short negative TTL so a device with a wrong token
/// cannot make every attempt a database read. A change through the registry in
/// this process drops the device's entries at once; changes by another process
/// (the CLI) arrive through `RegistryWatcher`.
package final class DeviceAuthenticator: Sendable {
    private struct Entry {
        let deviceId: String
        let identity: DeviceIdentity
        let enabled: Bool
        let expires: ContinuousClock.Instant
    }

    private struct State {
        var known: [String: Entry] = [:]
        var unknown: [String: ContinuousClock.Instant] = [:]
        /// Device id -> last successful authentication (ms), flushed by the watcher.
        var activity: [String: Int64] = [:]
    }

    /// Unknown tokens remembered at most; past it the negative cache restarts.
    package static let negativeCacheLimit = 10_000

    /// A lock taken on every HTTP and CoAP request: NIOLock, not
    /// Synchronization.Mutex (see MessageProcessor.state).
    private let state = NIOLockedValueBox(State())

    /// Tokens waiting for the registry. One look-up runs at a time and takes
    /// every token queued meanwhile in one query (natural batching, as the
    /// processor does): a reconnect storm costs a few queries, not one per
    /// device, and concurrent requests with one token share its look-up.
    private struct Lookups {
        /// The look-up thread has work or is taking it; a submitter that
        /// finds it false sets it and wakes (or starts) the thread.
        var running = false
        var threadAlive = false
        var waiting: [String: [@Sendable (AuthenticationResult) -> Void]] = [:]
    }

    private let lookups = Mutex(Lookups())
    /// Wakes the look-up thread: signalled once per idle-to-running turn.
    private let wake = DispatchSemaphore(value: 0)
    /// An idle look-up thread ends after this; the next miss starts another.
    private let lookupThreadIdle: DispatchTimeInterval
    private let registry: DeviceRegistry
    private let ttl: Duration
    private let negativeTTL: Duration
    private let metrics: GatewayMetrics
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Wrong tokens per address (AUTH_FAILURES_PER_ADDRESS): every transport
    /// checks it before a look-up and counts a look-up that found nothing,
    /// so guessing tokens from one address stops after a few.
    package let failures: AuthFailureThrottle

    package init(
        registry: DeviceRegistry,
        ttl: Duration,
        negativeTTL: Duration = .seconds(5),
        metrics: GatewayMetrics,
        lookupThreadIdle: Duration = .seconds(10),
        failures: AuthFailureThrottle = AuthFailureThrottle(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.failures = failures
        self.lookupThreadIdle = .nanoseconds(Int(lookupThreadIdle.wholeNanoseconds))
        self.registry = registry
        self.ttl = ttl
        self.negativeTTL = negativeTTL
        self.metrics = metrics
        self.now = now
        registry.addObserver { [weak self] deviceId in
            if let deviceId { self?.invalidate(deviceId: deviceId) } else { self?.invalidateAll() }
        }
    }

    /// The answer from the cache alone, without suspending: nil when the
    /// registry must be asked (`authenticate` does that).
    package func cachedResult(token: String) -> AuthenticationResult? {
        guard AccessToken.isWellFormed(token) else { return .malformed }
        let instant = now()
        enum Cached { case hit(Entry), negative, miss }
        let cached = state.withLockedValue { state -> Cached in
            if let entry = state.known[token] {
                if entry.expires > instant {
                    if entry.enabled { state.activity[entry.deviceId] = EpochClock.nowMilliseconds() }
                    return .hit(entry)
                }
                state.known[token] = nil
            }
            if let expires = state.unknown[token] {
                if expires > instant { return .negative }
                state.unknown[token] = nil
            }
            return .miss
        }
        switch cached {
        case .hit(let entry):
            metrics.authCacheHit()
            return entry.enabled ? .authenticated(entry.identity) : .disabled
        case .negative:
            metrics.authCacheHit()
            return .unknown
        case .miss:
            return nil
        }
    }

    package func authenticate(token: String) async -> AuthenticationResult {
        if let cached = cachedResult(token: token) { return cached }
        metrics.authCacheMiss()
        return await authenticateUncached(token: token)
    }

    /// Asks the registry and fills the cache (after `cachedResult` said nil).
    package func authenticateUncached(token: String) async -> AuthenticationResult {
        await withCheckedContinuation { continuation in
            authenticateUncached(token: token) { continuation.resume(returning: $0) }
        }
    }

    /// `authenticateUncached` for an event loop: `answer` is called on the
    /// look-up thread (the caller hops back itself), so a connect costs no
    /// task of its own, only its share of the batched look-up.
    /// `authenticateUncached` for a device at `address`: a look-up that
    /// finds nothing counts against the address (AUTH_FAILURES_PER_ADDRESS),
    /// in one place for every transport.
    package func authenticateUncached(
        token: String, from address: String, answer: @escaping @Sendable (AuthenticationResult) -> Void
    ) {
        authenticateUncached(token: token) { [failures] result in
            if result.isRefusal { failures.failed(address) }
            answer(result)
        }
    }

    package func authenticateUncached(token: String, answer: @escaping @Sendable (AuthenticationResult) -> Void) {
        guard AccessToken.isWellFormed(token) else { return answer(.malformed) }
        enum Wake { case none, signal, start }
        let wake = lookups.withLock { lookups -> Wake in
            lookups.waiting[token, default: []].append(answer)
            guard !lookups.running else { return .none }
            lookups.running = true
            guard lookups.threadAlive else {
                lookups.threadAlive = true
                return .start
            }
            return .signal
        }
        switch wake {
        case .none: break
        case .signal: self.wake.signal()
        case .start: startLookupThread()
        }
    }

    /// A thread of its own that blocks on the registry: one wake-up per
    /// batch. A task awaiting GRDB's reader queue cost three thread hops and
    /// a transaction per batch, more than the query itself, and a storm of
    /// new devices comes in batches of one or two (docs/performance.md).
    private func startLookupThread() {
        let thread = Thread { [self] in
            while true {
                while let batch = takeWaiting() { lookUp(batch) }
                if wake.wait(timeout: .now() + lookupThreadIdle) == .timedOut {
                    let ends = lookups.withLock { lookups -> Bool in
                        // Set since the last batch: its signal is on the way; take the work.
                        guard !lookups.running else { return false }
                        lookups.threadAlive = false
                        return true
                    }
                    if ends { return }
                }
            }
        }
        thread.name = "auth-lookup"
        thread.start()
    }

    /// Everything waiting, or nil (and not running) when nothing is.
    private func takeWaiting() -> [String: [@Sendable (AuthenticationResult) -> Void]]? {
        lookups.withLock { lookups in
            guard !lookups.waiting.isEmpty else {
                lookups.running = false
                return nil
            }
            defer { lookups.waiting = [:] }
            return lookups.waiting
        }
    }

    /// One registry query for the batch's tokens; fills the cache, then answers.
    private func lookUp(_ batch: [String: [@Sendable (AuthenticationResult) -> Void]]) {
        let tokens = Array(batch.keys)
        let hashes = tokens.map(AccessToken.hash)
        let devices: [String: Device]?
        do {
            devices = try registry.devicesBlocking(credential: .accessToken, values: hashes)
        } catch {
            metrics.error(.registry)
            devices = nil
        }
        let results: [String: AuthenticationResult]
        if let devices {
            let instant = now()
            results = state.withLockedValue { state in
                var results: [String: AuthenticationResult] = [:]
                for (token, hash) in zip(tokens, hashes) {
                    guard let device = devices[hash] else {
                        if state.unknown.count >= Self.negativeCacheLimit { state.unknown.removeAll() }
                        state.unknown[token] = instant + negativeTTL
                        results[token] = .unknown
                        continue
                    }
                    let entry = Entry(deviceId: device.id, identity: device.identity, enabled: device.enabled, expires: instant + ttl)
                    state.known[token] = entry
                    if device.enabled { state.activity[device.id] = EpochClock.nowMilliseconds() }
                    results[token] = device.enabled ? .authenticated(entry.identity) : .disabled
                }
                return results
            }
        } else {
            results = [:]
        }
        for (token, answers) in batch {
            let result = results[token] ?? .unavailable
            for answer in answers { answer(result) }
        }
    }

    /// Drops every cached token of one device.
    package func invalidate(deviceId: String) {
        state.withLockedValue { state in
            state.known = state.known.filter { $0.value.deviceId != deviceId }
            // A new device may now own a token that was unknown before.
            state.unknown.removeAll()
        }
    }

    package func invalidateAll() {
        state.withLockedValue { state in
            state.known.removeAll()
            state.unknown.removeAll()
        }
    }

    /// Cached tokens (known and unknown), for tests and diagnostics.
    package var cachedCount: Int { state.withLockedValue { $0.known.count + $0.unknown.count } }

    /// Takes the last-activity times gathered since the previous call.
    package func takeActivity() -> [String: Int64] {
        state.withLockedValue { state in
            let activity = state.activity
            state.activity.removeAll(keepingCapacity: true)
            return activity
        }
    }
}
