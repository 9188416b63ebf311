import Auth
import Foundation
import Synchronization

/// A registry on a real SQLite file in a fresh temporary directory.
func makeRegistry() throws -> (DeviceRegistry, String) {
    let directory = NSTemporaryDirectory() + "tb-auth-\(UUID().uuidString.prefix(8))"
    return (try DeviceRegistry(directory: directory), directory)
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { current.withLock { $0 } }
    func advance(_ duration: Duration) { current.withLock { $0 += duration } }
}
