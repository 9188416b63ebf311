import GRDB

/// An operation stored for a device that is not reachable now (LwM2M queue
/// mode, Core §6.5): QUEUED until the device wakes, SENDING while it is
/// sent, then CONFIRMED, or FAILED after the last attempt.
package struct QueuedOperation: Sendable, Equatable {
    package enum Status: String, Sendable {
        case queued = "QUEUED"
        case sending = "SENDING"
        case confirmed = "CONFIRMED"
        case failed = "FAILED"
    }

    package var id: Int64
    package var deviceId: String
    /// The operation, as the LwM2M server encodes it (JSON text).
    package var request: String
    package var status: Status
    package var attempts: Int
    /// The device's answer or the last error (JSON text).
    package var result: String?
    package var createdAt: Int64
    package var updatedAt: Int64

    init(row: Row) {
        id = row["id"]
        deviceId = row["device_id"]
        request = row["request"]
        status = Status(rawValue: row["status"]) ?? .failed
        attempts = row["attempts"]
        result = row["result"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
    }
}

extension DeviceRegistry {
    package func enqueueOperation(deviceId: String, request: String) async throws(RegistryError) -> QueuedOperation {
        let now = Self.now()
        return try await run {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO queued_operations (device_id, request, status, created_at, updated_at) VALUES (?, ?, 'QUEUED', ?, ?)",
                    arguments: [deviceId, request, now, now])
                let row = try Row.fetchOne(db, sql: "SELECT * FROM queued_operations WHERE id = ?", arguments: [db.lastInsertedRowID])
                return QueuedOperation(row: row!)
            }
        }
    }

    /// The device's operations still to send, oldest first.
    package func pendingOperations(deviceId: String) async throws(RegistryError) -> [QueuedOperation] {
        try await run {
            try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM queued_operations WHERE device_id = ? AND status IN ('QUEUED', 'SENDING') ORDER BY id",
                    arguments: [deviceId]
                ).map(QueuedOperation.init(row:))
            }
        }
    }

    package func operations(deviceId: String, limit: Int = 100) async throws(RegistryError) -> [QueuedOperation] {
        try await run {
            try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM queued_operations WHERE device_id = ? ORDER BY id DESC LIMIT ?", arguments: [deviceId, limit]
                ).map(QueuedOperation.init(row:))
            }
        }
    }

    package func operation(id: Int64) async throws(RegistryError) -> QueuedOperation? {
        try await run {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM queued_operations WHERE id = ?", arguments: [id]).map(QueuedOperation.init(row:))
            }
        }
    }

    /// Records a status change; `attempted` counts one more attempt.
    package func updateOperation(
        id: Int64,
        status: QueuedOperation.Status,
        attempted: Bool = false,
        result: String? = nil
    ) async throws(RegistryError) {
        let now = Self.now()
        try await run {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE queued_operations SET status = ?, attempts = attempts + ?, result = COALESCE(?, result), updated_at = ?
                        WHERE id = ?
                        """,
                    arguments: [status.rawValue, attempted ? 1 : 0, result, now, id])
            }
        }
    }
}
