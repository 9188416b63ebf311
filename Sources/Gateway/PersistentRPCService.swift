import Auth
import Logging
import Processor
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// Persistent server-side RPC (`"persistent":true` in the admin call): the
/// request is kept in the registry database, QUEUED until a session of the
/// device can take RPC (it connects and subscribes, observes or long-polls
/// /rpc), then SENT and SUCCESSFUL with the reply, TIMEOUT without one, or
/// EXPIRED if its expiration time comes first. It survives a restart.
final class PersistentRPCService: Service, Sendable {
    private let registry: DeviceRegistry
    private let sessions: DeviceSessions
    private let logger: Logger
    /// Devices whose queued RPCs are being sent now.
    private let delivering = Mutex<Set<String>>([])

    init(registry: DeviceRegistry, sessions: DeviceSessions, logger: Logger) {
        self.registry = registry
        self.sessions = sessions
        self.logger = logger
    }

    /// Before any RPC id is handed out: live ids continue after the stored ones.
    func prepare() async throws {
        sessions.continueRPCIdentifiers(after: try await registry.maxPersistentRPCId())
        sessions.onRPCReady { [self] deviceId in deliverQueued(deviceId: deviceId) }
    }

    func run() async throws {
        // Expire what waited too long, about once a second, until shutdown.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if let expired = try? await registry.expirePersistentRPCs(now: EpochClock.nowMilliseconds()) {
                for rpc in expired {
                    logger.info("persistent RPC expired", metadata: ["rpc_id": "\(rpc.id)", "device_id": "\(rpc.deviceId)"])
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func submit(deviceId: String, method: String, params: String, timeout: Duration, expiresAt: Int64) async throws(RegistryError) -> PersistentRPC {
        let id = sessions.nextRPCIdentifier()
        let milliseconds = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let rpc = try await registry.insertPersistentRPC(
            id: id, deviceId: deviceId, method: method, params: params, timeoutMilliseconds: milliseconds, expiresAt: expiresAt)
        logger.info("persistent RPC queued", metadata: ["rpc_id": "\(id)", "device_id": "\(deviceId)", "method": "\(method)"])
        deliverQueued(deviceId: deviceId)
        return rpc
    }

    /// Sends the device's queued RPCs in order, each waiting for its reply.
    func deliverQueued(deviceId: String) {
        guard delivering.withLock({ $0.insert(deviceId).inserted }) else { return }
        Task { [self] in
            defer { _ = delivering.withLock { $0.remove(deviceId) } }
            var sentSome = true
            // Again after a round, for RPCs queued while it ran.
            while sentSome {
                sentSome = false
                guard let queued = try? await registry.queuedRPCs(deviceId: deviceId) else { return }
                for rpc in queued where rpc.expiresAt > EpochClock.nowMilliseconds() {
                    sessions.expectReply(deviceId: deviceId, id: rpc.id)
                    guard sessions.deliver(.rpcRequest(id: rpc.id, method: rpc.method, params: rpc.params), to: deviceId) > 0 else {
                        sessions.forgetReply(deviceId: deviceId, id: rpc.id)
                        return  // no session takes RPC: it stays QUEUED
                    }
                    sentSome = true
                    try? await registry.updatePersistentRPC(id: rpc.id, status: .sent)
                    if let reply = await sessions.awaitReply(deviceId: deviceId, id: rpc.id, timeout: .milliseconds(rpc.timeoutMilliseconds)) {
                        try? await registry.updatePersistentRPC(id: rpc.id, status: .successful, response: reply)
                        logger.info("persistent RPC answered", metadata: ["rpc_id": "\(rpc.id)", "device_id": "\(deviceId)"])
                    } else {
                        try? await registry.updatePersistentRPC(id: rpc.id, status: .timeout)
                        logger.info("persistent RPC not answered in time", metadata: ["rpc_id": "\(rpc.id)", "device_id": "\(deviceId)"])
                    }
                }
            }
        }
    }
}
