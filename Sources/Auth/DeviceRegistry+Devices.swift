import Foundation
import GRDB
import ProcessorAPI

extension DeviceRegistry {
    /// Device names and types: 1-255 characters, no control characters.
    static func validate(_ value: String, field: String) throws(RegistryError) {
        guard !value.isEmpty, value.count <= 255 else {
            throw RegistryError.invalid(field: field, reason: "must be 1 to 255 characters")
        }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw RegistryError.invalid(field: field, reason: "must not contain control characters")
        }
    }

    /// Creates a device with an access token (generated unless given) and
    /// returns the device and the token, which is not stored in clear.
    package func createDevice(
        name: String,
        type: String = "default",
        token: String? = nil,
        allowShortToken: Bool = false
    ) async throws(RegistryError) -> (device: Device, token: String) {
        try Self.validate(name, field: "name")
        try Self.validate(type, field: "type")
        let token = token ?? AccessToken.generate()
        if let problem = AccessToken.chosenTokenProblem(token, allowShort: allowShortToken) {
            throw RegistryError.invalid(field: "token", reason: problem)
        }
        let now = Self.now()
        let device = Device(
            id: UUID().uuidString.lowercased(), name: name, type: type, enabled: true,
            createdAt: now, updatedAt: now, lastActivityAt: nil
        )
        let hash = AccessToken.hash(token)
        try await run {
            try await pool.write { db in
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE name = ?", arguments: [name]) == true {
                    throw RegistryError.duplicateName(name)
                }
                if try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM device_credentials WHERE kind = ? AND value = ?",
                    arguments: [CredentialKind.accessToken.rawValue, hash]) == true
                {
                    throw RegistryError.invalid(field: "token", reason: "is already in use by another device")
                }
                try db.execute(
                    sql: """
                        INSERT INTO devices (id, name, type, enabled, created_at, updated_at)
                        VALUES (?, ?, ?, 1, ?, ?)
                        """,
                    arguments: [device.id, name, type, now, now])
                try db.execute(
                    sql: "INSERT INTO device_credentials (device_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [device.id, CredentialKind.accessToken.rawValue, hash, now])
                try Self.bumpRevision(db)
            }
        }
        changed(device.id)
        return (device, token)
    }

    package func device(named name: String) async throws(RegistryError) -> Device? {
        try await run {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(Device.columns) FROM devices WHERE name = ?", arguments: [name]).map { Device(row: $0, from: 0) }
            }
        }
    }

    package func device(id: String) async throws(RegistryError) -> Device? {
        try await run {
            try await pool.read { db in
                try Row.fetchOne(db, sql: "SELECT \(Device.columns) FROM devices WHERE id = ?", arguments: [id]).map { Device(row: $0, from: 0) }
            }
        }
    }

    /// Devices ordered by name.
    package func listDevices(offset: Int = 0, limit: Int = 1000) async throws(RegistryError) -> [Device] {
        try await run {
            try await pool.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT \(Device.columns) FROM devices ORDER BY name LIMIT ? OFFSET ?", arguments: [limit, offset]
                ).map { Device(row: $0, from: 0) }
            }
        }
    }

    package func deviceCount() async throws(RegistryError) -> Int {
        try await run {
            try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices") ?? 0 }
        }
    }

    /// How many devices have this type.
    package func deviceCount(type: String) async throws(RegistryError) -> Int {
        try await run {
            try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM devices WHERE type = ?", arguments: [type]) ?? 0 }
        }
    }

    /// The device holding a credential, enabled or not.
    package func device(credential kind: CredentialKind, value: String) async throws(RegistryError) -> Device? {
        try await run {
            try await pool.read { db in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT \(Device.columns) FROM device_credentials
                        JOIN devices ON devices.id = device_credentials.device_id
                        WHERE device_credentials.kind = ? AND device_credentials.value = ?
                        """,
                    arguments: [kind.rawValue, value]
                ).map { Device(row: $0, from: 0) }
            }
        }
    }

    /// The IN-list lengths of the batched look-up's cached statements.
    static let inListSizes = [1, 4, 16, 64, 200, 500]

    /// The devices of many credentials of one kind in one query per 500
    /// values (a reconnect storm after a restart asks for thousands at once):
    /// credential value → device, for the values the registry knows.
    package func devices(credential kind: CredentialKind, values: [String]) async throws(RegistryError) -> [String: Device] {
        guard !values.isEmpty else { return [:] }
        return try await run {
            try await pool.read { db in try Self.devices(db, credential: kind, values: values) }
        }
    }

    /// `devices(credential:values:)` on the calling thread, which it blocks
    /// for the query: for a thread of the caller's own, never an event loop
    /// or the concurrency pool. One SELECT, so no transaction is begun (the
    /// statement reads one snapshot by itself); no hop to GRDB's queues and
    /// back, which cost more than the query when look-ups come one or two
    /// at a time (a connect storm of new devices).
    package func devicesBlocking(credential kind: CredentialKind, values: [String]) throws(RegistryError) -> [String: Device] {
        guard !values.isEmpty else { return [:] }
        do {
            return try pool.unsafeRead { db in try Self.devices(db, credential: kind, values: values) }
        } catch {
            throw Self.registryError(error)
        }
    }

    private static func devices(_ db: Database, credential kind: CredentialKind, values: [String]) throws -> [String: Device] {
        var found: [String: Device] = [:]
        for start in stride(from: 0, to: values.count, by: 500) {
            var chunk = Array(values[start..<min(start + 500, values.count)])
            // A few statement sizes, compiled once per connection and
            // cached: the chunk is padded with its first value to the
            // next size (a repeated value in IN matches once). Compiling
            // an IN list per batch had been a tenth of the registry's
            // time in a reconnect storm.
            let size = inListSizes.first { $0 >= chunk.count } ?? chunk.count
            chunk += repeatElement(chunk[0], count: size - chunk.count)
            let placeholders = Array(repeating: "?", count: size).joined(separator: ",")
            let statement = try db.cachedStatement(sql: """
                SELECT device_credentials.value, \(Device.columns) FROM device_credentials
                JOIN devices ON devices.id = device_credentials.device_id
                WHERE device_credentials.kind = ? AND device_credentials.value IN (\(placeholders))
                """)
            let rows = try Row.fetchAll(statement, arguments: StatementArguments([kind.rawValue] + chunk))
            for row in rows { found[row[0]] = Device(row: row, from: 1) }
        }
        return found
    }

    /// Replaces the device's access token; the old one stops working at once.
    package func rotateToken(deviceId: String, token: String? = nil) async throws(RegistryError) -> String {
        let token = token ?? AccessToken.generate()
        if let problem = AccessToken.chosenTokenProblem(token) {
            throw RegistryError.invalid(field: "token", reason: problem)
        }
        let hash = AccessToken.hash(token)
        let now = Self.now()
        try await run {
            try await pool.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE id = ?", arguments: [deviceId]) == true else {
                    throw RegistryError.notFound("with id \(deviceId)")
                }
                try db.execute(
                    sql: "DELETE FROM device_credentials WHERE device_id = ? AND kind = ?",
                    arguments: [deviceId, CredentialKind.accessToken.rawValue])
                try db.execute(
                    sql: "INSERT INTO device_credentials (device_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [deviceId, CredentialKind.accessToken.rawValue, hash, now])
                try db.execute(sql: "UPDATE devices SET updated_at = ? WHERE id = ?", arguments: [now, deviceId])
                try Self.bumpRevision(db)
            }
        }
        changed(deviceId)
        return token
    }

    /// Updates type and/or enabled flag; returns the device as stored.
    @discardableResult
    package func updateDevice(id: String, type: String? = nil, enabled: Bool? = nil) async throws(RegistryError) -> Device {
        if let type { try Self.validate(type, field: "type") }
        let now = Self.now()
        let device = try await run {
            try await pool.write { db -> Device in
                guard let row = try Row.fetchOne(db, sql: "SELECT \(Device.columns) FROM devices WHERE id = ?", arguments: [id]) else {
                    throw RegistryError.notFound("with id \(id)")
                }
                var device = Device(row: row, from: 0)
                if let type { device.type = type }
                if let enabled { device.enabled = enabled }
                device.updatedAt = now
                try db.execute(
                    sql: "UPDATE devices SET type = ?, enabled = ?, updated_at = ? WHERE id = ?",
                    arguments: [device.type, device.enabled, now, id])
                try Self.bumpRevision(db)
                return device
            }
        }
        changed(id)
        return device
    }

    package func removeDevice(id: String) async throws(RegistryError) {
        try await run {
            try await pool.write { db in
                try db.execute(sql: "DELETE FROM devices WHERE id = ?", arguments: [id])
                guard db.changesCount > 0 else { throw RegistryError.notFound("with id \(id)") }
                try Self.bumpRevision(db)
            }
        }
        changed(id)
    }

    /// Writes last-activity times collected since the previous call.
    package func recordActivity(_ times: [String: Int64]) async throws(RegistryError) {
        guard !times.isEmpty else { return }
        try await run {
            try await pool.write { db in
                // One compiled statement for the whole batch: a reconnect
                // storm writes thousands of rows, and compiling the UPDATE
                // for each was most of this write's cost.
                let update = try db.cachedStatement(
                    sql: "UPDATE devices SET last_activity_at = MAX(COALESCE(last_activity_at, 0), ?) WHERE id = ?")
                for (id, time) in times {
                    try update.execute(arguments: [time, id])
                }
            }
        }
    }
}

extension DeviceRegistry {
    /// The endpoint client name an LwM2M device registers with (Core §6.2.1 `ep`).
    package func lwm2mEndpoint(deviceId: String) async throws(RegistryError) -> String? {
        try await run {
            try await pool.read { db in
                try String.fetchOne(
                    db, sql: "SELECT value FROM device_credentials WHERE device_id = ? AND kind = ?",
                    arguments: [deviceId, CredentialKind.lwm2mEndpoint.rawValue])
            }
        }
    }

    /// Sets (or with nil removes) the device's LwM2M endpoint name; one device per name.
    package func setLwM2MEndpoint(deviceId: String, endpoint: String?) async throws(RegistryError) {
        if let endpoint { try Self.validate(endpoint, field: "lwm2mEndpoint") }
        let now = Self.now()
        try await run {
            try await pool.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE id = ?", arguments: [deviceId]) == true else {
                    throw RegistryError.notFound("with id \(deviceId)")
                }
                if let endpoint, let owner = try String.fetchOne(
                    db, sql: "SELECT device_id FROM device_credentials WHERE kind = ? AND value = ?",
                    arguments: [CredentialKind.lwm2mEndpoint.rawValue, endpoint]), owner != deviceId
                {
                    throw RegistryError.invalid(field: "lwm2mEndpoint", reason: "is already used by another device")
                }
                try db.execute(
                    sql: "DELETE FROM device_credentials WHERE device_id = ? AND kind = ?",
                    arguments: [deviceId, CredentialKind.lwm2mEndpoint.rawValue])
                if let endpoint {
                    try db.execute(
                        sql: "INSERT INTO device_credentials (device_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                        arguments: [deviceId, CredentialKind.lwm2mEndpoint.rawValue, endpoint, now])
                }
                try db.execute(sql: "UPDATE devices SET updated_at = ? WHERE id = ?", arguments: [now, deviceId])
                try Self.bumpRevision(db)
            }
        }
        changed(deviceId)
    }
}
