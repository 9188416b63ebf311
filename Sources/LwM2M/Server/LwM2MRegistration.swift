import CoAPCodec
import NIOCore
import ProcessorAPI
import Synchronization

/// A registered LwM2M client (Core §6.2): who it is, where it is, what it offers.
package struct LwM2MRegistration: Sendable {
    /// The location the client updates and de-registers at: `/rd/{id}`.
    package let id: String
    package let endpoint: String
    package let device: DeviceIdentity
    package var peer: SocketAddress
    /// Seconds (the `lt` parameter, default 86400, Core §6.2.1).
    package var lifetime: Int
    /// `U`, `UQ`, … (the `b` parameter; 1.1 also has `Q` for queue mode).
    package var binding: String
    package var version: String
    package var queueMode: Bool
    /// The objects and instances the client reported, as link targets (`/3/0`).
    package var objectLinks: [String]
    package var registeredAt: Int64
    package var updatedAt: Int64
    /// When the registration expires: lifetime plus a grace period after the last update.
    package var expiresAt: ContinuousClock.Instant
    /// When the client last sent a Register or Update (queue mode: it is awake for a while after).
    package var lastSeen: ContinuousClock.Instant = .now

    /// The registration as JSON for the admin API.
    package var json: String {
        var fields = [
            #""id":"# + JSONEscaping.quoted(id),
            #""endpoint":"# + JSONEscaping.quoted(endpoint),
            #""deviceId":"# + JSONEscaping.quoted(device.id),
            #""address":"# + JSONEscaping.quoted(peer.description),
            #""lifetime":\#(lifetime)"#,
            #""binding":"# + JSONEscaping.quoted(binding),
            #""lwm2mVersion":"# + JSONEscaping.quoted(version),
            #""queueMode":\#(queueMode)"#,
            #""registeredAt":\#(registeredAt)"#,
            #""updatedAt":\#(updatedAt)"#,
        ]
        fields.append(#""objects":["# + objectLinks.map(JSONEscaping.quoted).joined(separator: ",") + "]")
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// The live registrations, by location id, device id and endpoint name.
/// Shared by the server's event loop and the admin API; registrations are
/// rare events, so one lock is plenty.
package final class LwM2MRegistrations: Sendable {
    private struct State {
        var byId: [String: LwM2MRegistration] = [:]
        var idByDevice: [String: String] = [:]
        var idByPeer: [SocketAddress: String] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    /// Stores a registration; returns the one it replaces (same device).
    @discardableResult
    package func insert(_ registration: LwM2MRegistration) -> LwM2MRegistration? {
        state.withLock { state in
            let previous = state.idByDevice[registration.device.id].flatMap { state.byId.removeValue(forKey: $0) }
            if let previous { state.idByPeer[previous.peer] = nil }
            state.byId[registration.id] = registration
            state.idByDevice[registration.device.id] = registration.id
            state.idByPeer[registration.peer] = registration.id
            return previous
        }
    }

    package func update(_ id: String, _ change: (inout LwM2MRegistration) -> Void) -> LwM2MRegistration? {
        state.withLock { state in
            guard var registration = state.byId[id] else { return nil }
            state.idByPeer[registration.peer] = nil
            change(&registration)
            state.byId[id] = registration
            state.idByPeer[registration.peer] = id
            return registration
        }
    }

    @discardableResult
    package func remove(_ id: String) -> LwM2MRegistration? {
        state.withLock { state in
            guard let registration = state.byId.removeValue(forKey: id) else { return nil }
            if state.idByDevice[registration.device.id] == id { state.idByDevice[registration.device.id] = nil }
            if state.idByPeer[registration.peer] == id { state.idByPeer[registration.peer] = nil }
            return registration
        }
    }

    package func registration(id: String) -> LwM2MRegistration? {
        state.withLock { $0.byId[id] }
    }

    package func registration(deviceId: String) -> LwM2MRegistration? {
        state.withLock { state in state.idByDevice[deviceId].flatMap { state.byId[$0] } }
    }

    /// The registration a request from `peer` belongs to (the 1.1 Send operation).
    package func registration(peer: SocketAddress) -> LwM2MRegistration? {
        state.withLock { state in state.idByPeer[peer].flatMap { state.byId[$0] } }
    }

    package var count: Int { state.withLock { $0.byId.count } }

    /// Removes and returns the registrations whose lifetime ran out.
    package func expire(now: ContinuousClock.Instant) -> [LwM2MRegistration] {
        state.withLock { state in
            let expired = state.byId.values.filter { $0.expiresAt <= now }
            for registration in expired {
                state.byId[registration.id] = nil
                if state.idByDevice[registration.device.id] == registration.id { state.idByDevice[registration.device.id] = nil }
                if state.idByPeer[registration.peer] == registration.id { state.idByPeer[registration.peer] = nil }
            }
            return expired
        }
    }
}
