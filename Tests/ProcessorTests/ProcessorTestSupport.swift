import Foundation
import Logging
import NIOCore
import ProcessorAPI
import Synchronization

/// Records the verdict each message got.
final class RecordingCompletion: DeliveryCompletion {
    private let outcomes = Mutex<[DeliveryOutcome]>([])
    let awaitsAnswer: Bool
    init(awaitsAnswer: Bool = true) { self.awaitsAnswer = awaitsAnswer }
    func complete(_ outcome: DeliveryOutcome) { outcomes.withLock { $0.append(outcome) } }
    var all: [DeliveryOutcome] { outcomes.withLock { $0 } }
    var outcome: DeliveryOutcome? { all.first }
}

let testDevice = DeviceIdentity(id: "00000000-0000-4000-8000-0000000000aa", name: "unit", type: "test")

func message(
    _ values: String = #"{"v":1}"#,
    kind: MessageKind = .telemetry,
    entries count: Int = 1,
    ts: Int64 = 1_700_000_000_000,
    completion: RecordingCompletion = RecordingCompletion()
) -> GatewayMessage {
    GatewayMessage(
        device: testDevice, kind: kind, transport: .http, receivedAt: 1_700_000_000_999,
        entries: (0..<count).map { TelemetryEntry(ts: ts + Int64($0), values: ByteBuffer(string: values)) },
        completion: completion)
}

/// Waits until `condition` holds, polling; false after `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

var testLogger: Logger {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { current.withLock { $0 } }
    func advance(_ duration: Duration) { current.withLock { $0 += duration } }
}
