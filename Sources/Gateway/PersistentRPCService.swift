import Auth
import Logging
import NIOCore
import Processor
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// Persistent server-side RPC (`"persistent":true` in the admin call): the
/// request is kept in the registry database, QUEUED until a session of the
/// device can take RPC (it connects and subscribes, observes or long-polls
/// /rpc), then SENT, DELIVERED when the device acknowledged it, and
/// SUCCESSFUL with the reply or TIMEOUT without one; EXPIRED if its
/// expiration time comes first; FAILED if the gateway stopped while it
/// waited for the reply. It survives a restart. Every state change is also
/// a record on the RPC topic (docs/kafka-records.md, "RPC states").
final class PersistentRPCService: Service, Sendable {
    private let registry: DeviceRegistry
    private let sessions: DeviceSessions
    private let ingest: any MessageIngest
    private let logger: Logger
    /// Devices whose queued RPCs are being sent now.
    private let delivering = Mutex<Set<String>>([])
    /// Sent RPCs waiting to hear that the device acknowledged them, by id.
    private let acknowledgements = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])
    /// SENT or DELIVERED when the gateway last stopped: FAILED in `prepare`,
    /// reported once the processor runs.
    private let interrupted = Mutex<[PersistentRPC]>([])

    init(registry: DeviceRegistry, sessions: DeviceSessions, ingest: any MessageIngest, logger: Logger) {
        self.registry = registry
        self.sessions = sessions
        self.ingest = ingest
        self.logger = logger
    }

    /// Before any RPC id is handed out: live ids continue after the stored ones.
    func prepare() async throws {
        sessions.continueRPCIdentifiers(after: try await registry.maxPersistentRPCId())
        let failed = try await registry.failInterruptedPersistentRPCs(now: EpochClock.nowMilliseconds())
        interrupted.withLock { $0 = failed }
        sessions.onRPCReady { [self] deviceId in deliverQueued(deviceId: deviceId) }
        sessions.onRPCDelivered { [self] _, id in
            acknowledgements.withLock { $0.removeValue(forKey: id) }.map { $0.yield(); $0.finish() }
        }
    }

    func run() async throws {
        for rpc in interrupted.withLock({ $0 }) {
            logger.warning("persistent RPC failed: the gateway stopped while it waited for the reply", metadata: ["rpc_id": "\(rpc.id)"])
            await report(rpc.id, deviceId: rpc.deviceId, .failed)
        }
        // Expire what waited too long, about once a second, until shutdown.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if let expired = try? await registry.expirePersistentRPCs(now: EpochClock.nowMilliseconds()) {
                for rpc in expired {
                    logger.info("persistent RPC expired", metadata: ["rpc_id": "\(rpc.id)", "device_id": "\(rpc.deviceId)"])
                    await report(rpc.id, deviceId: rpc.deviceId, .expired)
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
        await report(id, deviceId: deviceId, .queued)
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
                    guard await send(rpc) else { return }  // no session takes RPC: it stays QUEUED
                    sentSome = true
                }
            }
        }
    }

    /// One RPC through its states; false when no session took it. Every
    /// transition of one RPC happens in this one task, so its records reach
    /// the RPC topic in order.
    private func send(_ rpc: PersistentRPC) async -> Bool {
        let (deviceId, id) = (rpc.deviceId, rpc.id)
        let (acknowledged, acknowledge) = AsyncStream<Void>.makeStream()
        acknowledgements.withLock { $0[id] = acknowledge }
        sessions.expectReply(deviceId: deviceId, id: id)
        guard sessions.deliver(.rpcRequest(id: id, method: rpc.method, params: rpc.params), to: deviceId) > 0 else {
            sessions.forgetReply(deviceId: deviceId, id: id)
            acknowledgements.withLock { $0.removeValue(forKey: id) }?.finish()
            return false
        }
        await transition(rpc, .sent)
        enum Event: Sendable {
            case acknowledged
            case noAcknowledgement
            case replied(String?)
        }
        await withTaskGroup(of: Event.self) { group in
            group.addTask {
                for await _ in acknowledged { return .acknowledged }
                return .noAcknowledgement
            }
            group.addTask { [sessions] in
                .replied(await sessions.awaitReply(deviceId: deviceId, id: id, timeout: .milliseconds(rpc.timeoutMilliseconds)))
            }
            var delivered = false
            for await event in group {
                switch event {
                case .acknowledged:
                    delivered = true
                    await transition(rpc, .delivered)
                case .noAcknowledgement:
                    continue
                case .replied(let reply):
                    // A reply means the request arrived, acknowledged or not.
                    acknowledgements.withLock { $0.removeValue(forKey: id) }?.finish()
                    if let reply {
                        if !delivered { await transition(rpc, .delivered) }
                        await transition(rpc, .successful, response: reply)
                        logger.info("persistent RPC answered", metadata: ["rpc_id": "\(id)", "device_id": "\(deviceId)"])
                    } else {
                        await transition(rpc, .timeout)
                        logger.info("persistent RPC not answered in time", metadata: ["rpc_id": "\(id)", "device_id": "\(deviceId)"])
                    }
                }
            }
        }
        return true
    }

    private func transition(_ rpc: PersistentRPC, _ status: PersistentRPC.Status, response: String? = nil) async {
        do {
            try await registry.updatePersistentRPC(id: rpc.id, status: status, response: response)
        } catch {
            logger.error("persistent RPC state not stored", metadata: ["rpc_id": "\(rpc.id)", "state": "\(status.rawValue)", "error": "\(error)"])
        }
        await report(rpc.id, deviceId: rpc.deviceId, status)
    }

    /// `{"requestId":"7","state":"DELIVERED"}` on the RPC topic, for the
    /// device the RPC belongs to, with transport "gateway".
    private func report(_ id: Int, deviceId: String, _ status: PersistentRPC.Status) async {
        guard let device = try? await registry.device(id: deviceId) else {
            return logger.warning("persistent RPC state not reported: device unknown", metadata: ["rpc_id": "\(id)", "device_id": "\(deviceId)"])
        }
        let now = EpochClock.nowMilliseconds()
        let values = ByteBuffer(string: #"{"requestId":"\#(id)","state":"\#(status.rawValue)"}"#)
        let message = GatewayMessage(
            device: device.identity, kind: .rpcState, transport: .gateway, receivedAt: now,
            entries: [TelemetryEntry(ts: now, values: values)], completion: UnacknowledgedCompletion.shared)
        if case .refused(let reason) = ingest.submit(message) {
            logger.warning("persistent RPC state not reported", metadata: ["rpc_id": "\(id)", "state": "\(status.rawValue)", "reason": "\(reason.rawValue)"])
        }
    }
}
