import GRDB

extension DeviceRegistry {
    /// The object instance id each device has upstream when the gateway is
    /// an LwM2M client (issue 11), for the object its type maps to.
    /// Devices without one get the lowest free id of their object; a device
    /// whose type now maps to another object gets a new one. Ids never move
    /// otherwise, so the server's view survives restarts.
    package func lwm2mClientInstances(objects: [String: UInt16]) async throws(RegistryError) -> [String: UInt16] {
        try await run {
            try await pool.write { db in
                var assigned: [String: (object: UInt16, instance: UInt16)] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT device_id, object_id, instance_id FROM lwm2m_client_instances") {
                    assigned[row["device_id"]] = (row["object_id"], row["instance_id"])
                }
                var used: [UInt16: Set<UInt16>] = [:]
                // Ids of devices left out (disabled) stay theirs; only a device moving to another object gives its id up.
                for (deviceId, entry) in assigned where objects[deviceId] == nil || objects[deviceId] == entry.object {
                    used[entry.object, default: []].insert(entry.instance)
                }
                var result: [String: UInt16] = [:]
                // New ids in the order the devices were provisioned (rowid), so the first device gets 0.
                let order = try String.fetchAll(db, sql: "SELECT id FROM devices ORDER BY rowid")
                for deviceId in order {
                    guard let object = objects[deviceId] else { continue }
                    if let entry = assigned[deviceId], entry.object == object {
                        result[deviceId] = entry.instance
                        continue
                    }
                    // 0...65534: 65535 is reserved (LwM2M Core §7.1); a device
                    // past that many in one object gets no instance instead of
                    // an overflow trap at every start.
                    var instance: UInt16 = 0
                    while instance < 65535, used[object, default: []].contains(instance) { instance += 1 }
                    guard instance < 65535 else { continue }
                    used[object, default: []].insert(instance)
                    try db.execute(
                        sql: """
                            INSERT INTO lwm2m_client_instances (device_id, object_id, instance_id) VALUES (?, ?, ?)
                            ON CONFLICT(device_id) DO UPDATE SET object_id = excluded.object_id, instance_id = excluded.instance_id
                            """,
                        arguments: [deviceId, object, instance])
                    result[deviceId] = instance
                }
                return result
            }
        }
    }

    /// Every device, enabled or not, in name order.
    package func allDevices() async throws(RegistryError) -> [Device] {
        try await run {
            try await pool.read { db in
                try Row.fetchAll(db, sql: "SELECT \(Device.columns) FROM devices ORDER BY name").map { Device(row: $0, from: 0) }
            }
        }
    }
}
