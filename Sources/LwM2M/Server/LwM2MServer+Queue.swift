import Auth
import CoAPCodec
import Logging
import NIOCore
import ProcessorAPI

/// Queue mode (Core §6.5): a client that registered with binding `UQ` (1.0)
/// or `Q` (1.1) sleeps between its messages. Operations for it wait in the
/// registry (so they survive a restart) and go out when it next registers
/// or updates.
extension LwM2MServer {
    /// True for a queue-mode client whose awake time since its last message has passed.
    package func isSleeping(deviceId: String) -> Bool {
        guard let registration = registrations.registration(deviceId: deviceId), registration.queueMode else { return false }
        return registration.lastSeen + configuration.queueAwakeTime < .now
    }

    /// Stores an operation for a sleeping device; QUEUED until it wakes.
    package func enqueue(_ request: LwM2MRequest, deviceId: String) async throws(LwM2MOperationError) -> QueuedOperation {
        do {
            let operation = try await registry.enqueueOperation(deviceId: deviceId, request: request.json)
            logger.info(
                "LwM2M operation queued for a sleeping device",
                metadata: ["device_id": "\(deviceId)", "operation": "\(request.operation)", "path": "\(request.path)", "id": "\(operation.id)"])
            return operation
        } catch {
            metrics.error(.registry)
            throw .unreachable("the registry could not store the operation: \(error)")
        }
    }

    /// Sends the device's queued operations in order, right after it
    /// registered or updated. A time-out ends the round (the device went
    /// back to sleep); after `queuedAttempts` attempts an operation FAILED.
    func deliverQueued(deviceId: String) {
        guard startDelivering(deviceId) else { return }
        Task { [self] in
            defer { stopDelivering(deviceId) }
            guard let pending = try? await registry.pendingOperations(deviceId: deviceId) else { return }
            for operation in pending {
                guard let request = LwM2MRequest(json: operation.request) else {
                    try? await registry.updateOperation(id: operation.id, status: .failed, result: #"{"error":"unreadable operation"}"#)
                    continue
                }
                try? await registry.updateOperation(id: operation.id, status: .sending)
                do throws(LwM2MOperationError) {
                    let response = try await perform(request, deviceId: deviceId)
                    var result = #"{"code":"\#(response.code)"}"#
                    if request.operation == "read", let path = request.lwm2mPath,
                        let read = try? decodeRead(Array(response.payload.readableBytesView), contentFormat: response.contentFormat ?? request.accept, path: path)
                    {
                        result = read.json
                    }
                    try? await registry.updateOperation(id: operation.id, status: .confirmed, attempted: true, result: result)
                    logger.info("LwM2M queued operation confirmed", metadata: ["device_id": "\(deviceId)", "id": "\(operation.id)"])
                } catch {
                    let result = #"{"error":"# + JSONEscaping.quoted(error.description) + "}"
                    let final: Bool
                    switch error {
                    case .timeout, .unreachable: final = operation.attempts + 1 >= configuration.queuedAttempts
                    default: final = true  // the device answered: trying again would not change it
                    }
                    try? await registry.updateOperation(id: operation.id, status: final ? .failed : .queued, attempted: true, result: result)
                    logger.info(
                        "LwM2M queued operation \(final ? "failed" : "not delivered; kept for the next wake-up")",
                        metadata: ["device_id": "\(deviceId)", "id": "\(operation.id)", "error": "\(error)"])
                    if case .timeout = error { return }
                }
            }
        }
    }
}

extension QueuedOperation {
    /// `{"id":…,"status":"QUEUED","attempts":0,"request":{…},"result":…}` for the admin API.
    package var json: String {
        #"{"id":\#(id),"deviceId":"# + JSONEscaping.quoted(deviceId) + #","status":"\#(status.rawValue)","attempts":\#(attempts),"request":"#
            + request + #","result":"# + (result ?? "null") + #","createdAt":\#(createdAt),"updatedAt":\#(updatedAt)}"#
    }
}
