import GRDB
import ProcessorAPI

/// A server-side RPC kept in the registry until its device takes it
/// (issue 10): QUEUED, SENT, DELIVERED (the device acknowledged it), then
/// SUCCESSFUL with the reply or TIMEOUT without one; EXPIRED when it was
/// never sent before its expiration time; FAILED when the gateway stopped
/// while it waited for the reply.
package struct PersistentRPC: Sendable, Equatable {
    package enum Status: String, Sendable {
        case queued = "QUEUED"
        case sent = "SENT"
        case delivered = "DELIVERED"
        case successful = "SUCCESSFUL"
        case timeout = "TIMEOUT"
        case expired = "EXPIRED"
        case failed = "FAILED"
    }

    package var id: Int
    package var deviceId: String
    package var method: String
    /// JSON text.
    package var params: String
    package var timeoutMilliseconds: Int
    /// Milliseconds since the epoch.
    package var expiresAt: Int64
    package var status: Status
    /// The device's reply, JSON text.
    package var response: String?
    package var createdAt: Int64
    package var updatedAt: Int64

    init(row: Row) {
        id = row["id"]
        deviceId = row["device_id"]
        method = row["method"]
        params = row["params"]
        timeoutMilliseconds = row["timeout_ms"]
        expiresAt = row["expires_at"]
        status = Status(rawValue: row["status"]) ?? .failed
        response = row["response"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
    }

    /// The admin API's JSON.
    package var json: String {
        #"{"id":\#(id),"deviceId":"# + JSONEscaping.quoted(deviceId) + #","method":"# + JSONEscaping.quoted(method)
            + #","params":"# + params + #","status":"\#(status.rawValue)","response":"# + (response ?? "null")
            + #","timeout":\#(timeoutMilliseconds),"expirationTime":\#(expiresAt),"createdAt":\#(createdAt),"updatedAt":\#(updatedAt)}"#
    }
}

extension DeviceRegistry {
    package func insertPersistentRPC(
        id: Int, deviceId: String, method: String, params: String, timeoutMilliseconds: Int, expiresAt: Int64
    ) async throws(RegistryError) -> PersistentRPC {
        let now = Self.now()
        return try await run {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO persistent_rpcs (id, device_id, method, params, timeout_ms, expires_at, status, created_at, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, 'QUEUED', ?, ?)
                        """,
                    arguments: [id, deviceId, method, params, timeoutMilliseconds, expiresAt, now, now])
                return PersistentRPC(row: try Row.fetchOne(db, sql: "SELECT * FROM persistent_rpcs WHERE id = ?", arguments: [id])!)
            }
        }
    }

    package func persistentRPC(id: Int) async throws(RegistryError) -> PersistentRPC? {
        try await run {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM persistent_rpcs WHERE id = ?", arguments: [id]).map(PersistentRPC.init(row:))
            }
        }
    }

    /// The device's RPCs still waiting to be sent, oldest first.
    package func queuedRPCs(deviceId: String) async throws(RegistryError) -> [PersistentRPC] {
        try await run {
            try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT * FROM persistent_rpcs WHERE device_id = ? AND status = 'QUEUED' ORDER BY id", arguments: [deviceId]
                ).map(PersistentRPC.init(row:))
            }
        }
    }

    package func updatePersistentRPC(id: Int, status: PersistentRPC.Status, response: String? = nil) async throws(RegistryError) {
        let now = Self.now()
        try await run {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE persistent_rpcs SET status = ?, response = COALESCE(?, response), updated_at = ? WHERE id = ?",
                    arguments: [status.rawValue, response, now, id])
            }
        }
    }

    /// Marks queued RPCs past their expiration time EXPIRED; returns them.
    package func expirePersistentRPCs(now: Int64) async throws(RegistryError) -> [PersistentRPC] {
        try await run {
            try await pool.write { db in
                let expired = try Row.fetchAll(
                    db, sql: "SELECT * FROM persistent_rpcs WHERE status = 'QUEUED' AND expires_at <= ?", arguments: [now]
                ).map(PersistentRPC.init(row:))
                try db.execute(
                    sql: "UPDATE persistent_rpcs SET status = 'EXPIRED', updated_at = ? WHERE status = 'QUEUED' AND expires_at <= ?",
                    arguments: [now, now])
                return expired
            }
        }
    }

    /// RPCs that were SENT or DELIVERED when the gateway stopped: nobody
    /// waits for their reply any more, and sending them again could run a
    /// command twice, so they are FAILED. Returns them.
    package func failInterruptedPersistentRPCs(now: Int64) async throws(RegistryError) -> [PersistentRPC] {
        try await run {
            try await pool.write { db in
                let interrupted = try Row.fetchAll(
                    db, sql: "SELECT * FROM persistent_rpcs WHERE status IN ('SENT', 'DELIVERED') ORDER BY id"
                ).map(PersistentRPC.init(row:))
                try db.execute(
                    sql: "UPDATE persistent_rpcs SET status = 'FAILED', updated_at = ? WHERE status IN ('SENT', 'DELIVERED')",
                    arguments: [now])
                return interrupted
            }
        }
    }

    /// The highest RPC id stored, so live ids continue after it.
    package func maxPersistentRPCId() async throws(RegistryError) -> Int {
        try await run {
            try await pool.read { db in try Int.fetchOne(db, sql: "SELECT MAX(id) FROM persistent_rpcs") ?? 0 }
        }
    }
}
