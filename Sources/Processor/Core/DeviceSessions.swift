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
        /// Two-way RPC calls waiting for the device's reply, by "deviceId/id".
        var replies: [String: Reply] = [:]
    }

    private enum Reply {
        case expected
        case waiting(CheckedContinuation<String?, Never>)
        case arrived(String)
    }

    private let state = Mutex(State())
    private let readyHandler = Mutex<(@Sendable (String) -> Void)?>(nil)
    private let deliveredHandler = Mutex<(@Sendable (String, Int) -> Void)?>(nil)

    private let metrics: GatewayMetrics?

    package init(metrics: GatewayMetrics? = nil) {
        self.metrics = metrics
    }

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
        let sessions = state.withLock { Array(($0.sessions[deviceId] ?? [:]).values) }.filter { $0.carries(message) }
        for session in sessions {
            session.deliver(message)
            metrics?.downlink(session.transport, message.metricKind)
        }
        if sessions.isEmpty { metrics?.downlink(nil, message.metricKind) }
        return sessions.count
    }

    /// Who hears that a device can take RPC now (the persistent RPC store).
    package func onRPCReady(_ handler: @escaping @Sendable (String) -> Void) {
        readyHandler.withLock { $0 = handler }
    }

    package func rpcReady(deviceId: String) {
        readyHandler.withLock { $0 }?(deviceId)
    }

    /// Who hears that a device acknowledged an RPC request (the persistent RPC store).
    package func onRPCDelivered(_ handler: @escaping @Sendable (_ deviceId: String, _ id: Int) -> Void) {
        deliveredHandler.withLock { $0 = handler }
    }

    package func rpcDelivered(deviceId: String, id: Int) {
        deliveredHandler.withLock { $0 }?(deviceId, id)
    }

    /// Ids continue after those already stored (persistent RPC survives restarts).
    package func continueRPCIdentifiers(after id: Int) {
        state.withLock { $0.rpc = max($0.rpc, id) }
    }

    /// Server-side RPC request ids, increasing from 1 as ThingsBoard numbers them.
    package func nextRPCIdentifier() -> Int {
        state.withLock { state in
            state.rpc += 1
            return state.rpc
        }
    }

    package func rpcReplied(deviceId: String, id: String, payload: String) {
        let key = deviceId + "/" + id
        let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
            switch state.replies[key] {
            case .expected:
                state.replies[key] = .arrived(payload)
                return nil
            case .waiting(let continuation):
                state.replies[key] = nil
                metrics?.rpcPending(state.replies.count)
                return continuation
            case .arrived, nil:
                return nil
            }
        }
        waiter?.resume(returning: payload)
    }

    /// Call before delivering a two-way RPC, so a reply that comes back
    /// before `awaitReply` runs is kept.
    package func expectReply(deviceId: String, id: Int) {
        let pending = state.withLock { state in
            state.replies[deviceId + "/" + String(id)] = .expected
            return state.replies.count
        }
        metrics?.rpcPending(pending)
    }

    /// Drops an expected reply nobody will wait for (the device was offline).
    package func forgetReply(deviceId: String, id: Int) {
        let pending = state.withLock { state in
            state.replies.removeValue(forKey: deviceId + "/" + String(id))
            return state.replies.count
        }
        metrics?.rpcPending(pending)
    }

    /// The device's reply (its JSON text), or nil after `timeout`.
    package func awaitReply(deviceId: String, id: Int, timeout: Duration) async -> String? {
        let key = deviceId + "/" + String(id)
        return await withTaskGroup(of: String?.self) { group in
            group.addTask { [self] in
                await withCheckedContinuation { continuation in
                    let early = state.withLock { state -> String?? in
                        switch state.replies[key] {
                        case .arrived(let payload):
                            state.replies[key] = nil
                            return .some(payload)
                        case .expected:
                            state.replies[key] = .waiting(continuation)
                            return .none
                        case .waiting, nil:
                            return .some(nil)  // already given up
                        }
                    }
                    if let early { continuation.resume(returning: early) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            // Whichever finished first, nobody waits any more: release the other side.
            let (pending, count) = state.withLock { state -> (CheckedContinuation<String?, Never>?, Int) in
                var continuation: CheckedContinuation<String?, Never>?
                if case .waiting(let waiting) = state.replies[key] { continuation = waiting }
                state.replies[key] = nil
                return (continuation, state.replies.count)
            }
            metrics?.rpcPending(count)
            pending?.resume(returning: nil)
            group.cancelAll()
            return first
        }
    }

    package func sessionCount(deviceId: String) -> Int {
        state.withLock { $0.sessions[deviceId]?.count ?? 0 }
    }
}
