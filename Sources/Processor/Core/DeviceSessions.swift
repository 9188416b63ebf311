import ProcessorAPI
import Synchronization

/// Every live device session, on every transport, by device id. A device
/// may hold several (an MQTT connection and a CoAP observation); a downlink
/// message goes to each. The downlink router is the only caller of `deliver`.
package final class DeviceSessions: DeviceSessionRegistry {
    private struct State {
        var sessions: [String: [UInt64: any DeviceSession]] = [:]
        var next: UInt64 = 1
        var rpc = 0
    }

    private let state = Mutex(State())

    package init() {}

    package func register(deviceId: String, session: any DeviceSession) -> UInt64 {
        state.withLock { state in
            let registration = state.next
            state.next += 1
            state.sessions[deviceId, default: [:]][registration] = session
            return registration
        }
    }

    package func unregister(deviceId: String, registration: UInt64) {
        state.withLock { state in
            state.sessions[deviceId]?[registration] = nil
            if state.sessions[deviceId]?.isEmpty == true { state.sessions[deviceId] = nil }
        }
    }

    /// Delivers to every session of the device; returns how many there were.
    @discardableResult
    package func deliver(_ message: DownlinkMessage, to deviceId: String) -> Int {
        let sessions = state.withLock { Array(($0.sessions[deviceId] ?? [:]).values) }
        for session in sessions { session.deliver(message) }
        return sessions.count
    }

    /// Server-side RPC request ids, increasing from 1 as ThingsBoard numbers them.
    package func nextRPCIdentifier() -> Int {
        state.withLock { state in
            state.rpc += 1
            return state.rpc
        }
    }

    package func sessionCount(deviceId: String) -> Int {
        state.withLock { $0.sessions[deviceId]?.count ?? 0 }
    }
}
