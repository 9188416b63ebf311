import NIOCore
import ProcessorAPI
import Synchronization

/// The latest value of every telemetry key and client attribute of every
/// device, as JSON text: what the LwM2M client role answers a Read from and
/// observes. Fed by `LwM2MLastValueTap`, which sits in front of the
/// processor only when the client role is enabled.
package final class LwM2MLastValues: Sendable {
    package struct Value: Sendable, Equatable {
        package var json: String
        /// Milliseconds since the epoch: the entry's `ts`.
        package var ts: Int64
    }

    private struct State {
        var devices: [String: [String: Value]] = [:]
        /// Devices changed since the observer last took them.
        var changed: Set<String> = []
        var notifying = false
    }

    private let state = Mutex(State())
    /// Told (at most once until it takes the changes) that devices changed.
    private let listener = Mutex<(@Sendable () -> Void)?>(nil)

    package init() {}

    package func values(deviceId: String) -> [String: Value] {
        state.withLock { $0.devices[deviceId] ?? [:] }
    }

    /// `listener` runs on the updating thread, once per batch of changes:
    /// a burst of telemetry costs one hop to the client's event loop, not one per message.
    /// Changes from before the listener was set (telemetry that came while
    /// the client role was starting) are told at once: they had set the
    /// once-per-batch flag with nobody to clear it, and every later change
    /// would have been kept from the listener.
    package func onChange(_ listener: @escaping @Sendable () -> Void) {
        self.listener.withLock { $0 = listener }
        let waiting = state.withLock { state -> Bool in
            state.notifying = !state.changed.isEmpty
            return state.notifying
        }
        if waiting { listener() }
    }

    /// The devices whose values changed since the last call.
    package func takeChanged() -> Set<String> {
        state.withLock { state in
            state.notifying = false
            defer { state.changed = [] }
            return state.changed
        }
    }

    package func update(deviceId: String, _ values: [(key: String, json: String)], ts: Int64) {
        guard !values.isEmpty else { return }
        let notify = state.withLock { state -> Bool in
            var device = state.devices[deviceId] ?? [:]
            for (key, json) in values where (device[key]?.ts ?? .min) <= ts {
                device[key] = Value(json: json, ts: ts)
            }
            state.devices[deviceId] = device
            state.changed.insert(deviceId)
            guard !state.notifying else { return false }
            state.notifying = true
            return true
        }
        if notify { listener.withLock { $0 }?() }
    }

    package func forget(deviceId: String) {
        _ = state.withLock { $0.devices.removeValue(forKey: deviceId) }
    }
}

/// The processor's ingest with the last-value cache in front: every
/// telemetry or client-attribute message the processor takes also updates
/// the cache. Only in place when LWM2M_CLIENT_ENABLED is true, so the hot
/// path pays nothing otherwise.
package struct LwM2MLastValueTap: MessageIngest {
    private let ingest: any MessageIngest
    private let values: LwM2MLastValues

    package init(_ ingest: any MessageIngest, values: LwM2MLastValues) {
        self.ingest = ingest
        self.values = values
    }

    package func submit(_ message: GatewayMessage) -> IngestResult {
        tapped(message, ingest.submit(message))
    }

    package func offer(_ message: GatewayMessage) -> IngestResult {
        tapped(message, ingest.offer(message))
    }

    private func tapped(_ message: GatewayMessage, _ result: IngestResult) -> IngestResult {
        guard result == .accepted, message.kind == .telemetry || message.kind == .attributes else { return result }
        for entry in message.entries {
            // The entry's values were validated by the transport: one JSON object.
            guard let parsed = try? ThingsBoardPayload.parseAttributes(entry.values, receivedAt: entry.ts) else { continue }
            values.update(deviceId: message.device.id, parsed.values.map { ($0.key, $0.json) }, ts: entry.ts)
        }
        return result
    }
}
