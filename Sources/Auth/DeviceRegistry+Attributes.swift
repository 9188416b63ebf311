import GRDB
import ProcessorAPI

extension DeviceRegistry {
    /// Attribute keys and their JSON text in one scope, ordered by key; all
    /// keys when `keys` is nil.
    package func attributes(
        deviceId: String,
        scope: AttributeScope,
        keys: [String]? = nil
    ) async throws(RegistryError) -> [(key: String, json: String)] {
        try await run {
            try await pool.read { db in
                var sql = "SELECT key, value FROM attributes WHERE device_id = ? AND scope = ?"
                var arguments: StatementArguments = [deviceId, scope.rawValue]
                if let keys {
                    guard !keys.isEmpty else { return [] }
                    sql += " AND key IN (" + keys.map { _ in "?" }.joined(separator: ",") + ")"
                    arguments += StatementArguments(keys)
                }
                sql += " ORDER BY key"
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    (key: row["key"] as String, json: row["value"] as String)
                }
            }
        }
    }

    /// Inserts or replaces attributes; each value is JSON text.
    package func setAttributes(
        deviceId: String,
        scope: AttributeScope,
        _ values: [(key: String, json: String)]
    ) async throws(RegistryError) {
        let now = Self.now()
        let values = values.map { [$0.key, $0.json] }
        try await run {
            try await pool.write { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE id = ?", arguments: [deviceId]) == true else {
                    throw RegistryError.notFound("with id \(deviceId)")
                }
                for pair in values {
                    try db.execute(
                        sql: """
                            INSERT INTO attributes (device_id, scope, key, value, updated_at) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT (device_id, scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                            """,
                        arguments: [deviceId, scope.rawValue, pair[0], pair[1], now])
                }
                // Checked inside the write, so the update is rolled back
                // whole when it would take the device past its quota.
                if scope == .client { try clientAttributeQuota.check(db, deviceId: deviceId) }
            }
        }
    }

    /// Deletes the given keys; returns the keys that existed.
    package func deleteAttributes(
        deviceId: String,
        scope: AttributeScope,
        keys: [String]
    ) async throws(RegistryError) -> [String] {
        try await run {
            try await pool.write { db in
                var deleted: [String] = []
                for key in keys {
                    try db.execute(
                        sql: "DELETE FROM attributes WHERE device_id = ? AND scope = ? AND key = ?",
                        arguments: [deviceId, scope.rawValue, key])
                    if db.changesCount > 0 { deleted.append(key) }
                }
                return deleted
            }
        }
    }
}

extension DeviceRegistry {
    /// ThingsBoard's answer to an attribute request, `{"client":{…},"shared":{…}}`:
    /// with neither key list both scopes whole, with one only that scope.
    package func attributeResponse(deviceId: String, clientKeys: [String]?, sharedKeys: [String]?) async throws(RegistryError) -> String {
        let neither = clientKeys == nil && sharedKeys == nil
        var sections: [String] = []
        if neither || clientKeys != nil {
            sections.append(#""client":"# + Self.jsonObject(try await attributes(deviceId: deviceId, scope: .client, keys: clientKeys)))
        }
        if neither || sharedKeys != nil {
            sections.append(#""shared":"# + Self.jsonObject(try await attributes(deviceId: deviceId, scope: .shared, keys: sharedKeys)))
        }
        return "{" + sections.joined(separator: ",") + "}"
    }

    /// Keys and their stored JSON text as one JSON object.
    package static func jsonObject(_ values: [(key: String, json: String)]) -> String {
        "{" + values.map { JSONEscaping.quoted($0.key) + ":" + $0.json }.joined(separator: ",") + "}"
    }
}
