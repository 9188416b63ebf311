import GRDB

/// CLIENT_ATTRIBUTES_MAX_KEYS and CLIENT_ATTRIBUTES_MAX_BYTES: what one
/// device may keep as client attributes. Devices write that scope
/// themselves, so without a bound one device could fill the registry's disk.
package struct AttributeQuota: Sendable, Equatable {
    package var maxKeys: Int
    /// UTF-8 bytes of keys and JSON values together.
    package var maxBytes: Int

    package static let `default` = AttributeQuota(maxKeys: 1000, maxBytes: 1 << 20)

    package init(maxKeys: Int, maxBytes: Int) {
        self.maxKeys = maxKeys
        self.maxBytes = maxBytes
    }

    /// Throws `.quotaExceeded` when the device's client attributes, as they
    /// stand in this transaction, are past either bound.
    func check(_ db: Database, deviceId: String) throws {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT COUNT(*), COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)
                FROM attributes WHERE device_id = ? AND scope = 'client'
                """,
            arguments: [deviceId])
        let keys: Int = row?[0] ?? 0
        let bytes: Int = row?[1] ?? 0
        if keys > maxKeys {
            throw RegistryError.quotaExceeded("client attributes: \(keys) keys, more than CLIENT_ATTRIBUTES_MAX_KEYS (\(maxKeys))")
        }
        if bytes > maxBytes {
            throw RegistryError.quotaExceeded("client attributes: \(bytes) bytes, more than CLIENT_ATTRIBUTES_MAX_BYTES (\(maxBytes))")
        }
    }
}
