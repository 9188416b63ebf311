import Auth
import Foundation
import GRDB
import Testing

@Suite("Device registry (SQLite on disk)")
struct DeviceRegistryTests {
    @Test("create, find by token hash, list, update, rotate, remove")
    func lifecycle() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (device, token) = try await registry.createDevice(name: "pump-1", type: "pump")
        #expect(token.count >= 20)
        #expect(UUID(uuidString: device.id) != nil && device.id == device.id.lowercased())
        #expect(try await registry.device(credential: .accessToken, value: AccessToken.hash(token)) == device)
        #expect(try await registry.device(named: "pump-1") == device)

        let updated = try await registry.updateDevice(id: device.id, type: "big-pump", enabled: false)
        #expect(updated.type == "big-pump" && !updated.enabled)

        let newToken = try await registry.rotateToken(deviceId: device.id)
        #expect(newToken != token)
        #expect(try await registry.device(credential: .accessToken, value: AccessToken.hash(token)) == nil)
        #expect(try await registry.device(credential: .accessToken, value: AccessToken.hash(newToken))?.id == device.id)

        _ = try await registry.createDevice(name: "a-first", token: "given-token-1-twenty-chars")
        #expect(try await registry.listDevices().map(\.name) == ["a-first", "pump-1"])

        try await registry.removeDevice(id: device.id)
        #expect(try await registry.device(named: "pump-1") == nil)
        await #expect(throws: RegistryError.notFound("with id \(device.id)")) {
            try await registry.removeDevice(id: device.id)
        }
    }

    @Test("the token is stored only as its SHA-256 hash")
    func tokenNotStoredInClear() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await registry.createDevice(name: "d", token: "plain-text-token-twenty")
        let queue = try DatabaseQueue(path: directory + "/registry.sqlite")
        let values = try await queue.read { db in try String.fetchAll(db, sql: "SELECT value FROM device_credentials") }
        #expect(values == [AccessToken.hash("plain-text-token-twenty")])
        let dump = try Data(contentsOf: URL(fileURLWithPath: directory + "/registry.sqlite"))
        #expect(dump.range(of: Data("plain-text-token-twenty".utf8)) == nil)
    }

    @Test("batched look-up: every known credential found once, unknown ones left out, at every statement size")
    func batchedLookup() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var devices: [String: Device] = [:]
        for index in 0..<30 {
            let (device, _) = try await registry.createDevice(name: "batch-\(index)", token: "batch-token-of-twenty-\(index)")
            devices[AccessToken.hash("batch-token-of-twenty-\(index)")] = device
        }
        let known = Array(devices.keys).sorted()
        // Counts below, at and above each padded statement size, a chunk
        // boundary (500), and unknown values mixed in.
        for count in [1, 2, 4, 5, 16, 17, 30, 64, 65, 201, 500, 501, 1003] {
            var values: [String] = []
            for index in 0..<count {
                values.append(index % 3 == 0 ? AccessToken.hash("unknown-\(index)") : known[index % known.count])
            }
            let found = try await registry.devices(credential: .accessToken, values: values)
            #expect(try registry.devicesBlocking(credential: .accessToken, values: values) == found, "count \(count): the blocking read finds the same")
            let expected = Set(values).intersection(known)
            #expect(Set(found.keys) == expected, "count \(count)")
            for (value, device) in found { #expect(devices[value] == device) }
        }
        #expect(try await registry.devices(credential: .lwm2mEndpoint, values: [known[0]]).isEmpty)
    }

    @Test("duplicate names, reused tokens and bad values are refused")
    func refusals() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await registry.createDevice(name: "dup", token: "token-one-twenty-chars")
        await #expect(throws: RegistryError.duplicateName("dup")) { try await registry.createDevice(name: "dup") }
        await #expect(throws: RegistryError.self) { try await registry.createDevice(name: "other", token: "token-one-twenty-chars") }
        await #expect(throws: RegistryError.self) { try await registry.createDevice(name: "") }
        await #expect(throws: RegistryError.self) { try await registry.createDevice(name: "x", token: "bad token") }
    }

    @Test("attributes per scope: upsert, read by keys, delete; gone with the device")
    func attributes() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (device, _) = try await registry.createDevice(name: "attr")
        try await registry.setAttributes(deviceId: device.id, scope: .client, [("fw", #""1.0""#), ("on", "true")])
        try await registry.setAttributes(deviceId: device.id, scope: .client, [("fw", #""1.1""#)])
        try await registry.setAttributes(deviceId: device.id, scope: .shared, [("interval", "30")])
        let client = try await registry.attributes(deviceId: device.id, scope: .client)
        #expect(client.map(\.key) == ["fw", "on"] && client.map(\.json) == [#""1.1""#, "true"])
        #expect(try await registry.attributes(deviceId: device.id, scope: .shared, keys: ["interval", "x"]).map(\.json) == ["30"])
        #expect(try await registry.attributes(deviceId: device.id, scope: .server).isEmpty)
        #expect(try await registry.deleteAttributes(deviceId: device.id, scope: .client, keys: ["on", "nope"]) == ["on"])
        try await registry.removeDevice(id: device.id)
        #expect(try await registry.attributes(deviceId: device.id, scope: .shared).isEmpty)
    }

    @Test("LwM2M client instance ids: lowest free per object, kept across reopening and while disabled, new when the object changes")
    func lwm2mClientInstances() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try await registry.createDevice(name: "a").device
        let b = try await registry.createDevice(name: "b").device
        let c = try await registry.createDevice(name: "c").device
        #expect(try await registry.lwm2mClientInstances(objects: [a.id: 26241, b.id: 26241, c.id: 3303]) == [a.id: 0, b.id: 1, c.id: 0])
        // a is left out (disabled): its id stays reserved; a new device does not take it.
        let d = try await registry.createDevice(name: "d").device
        #expect(try await registry.lwm2mClientInstances(objects: [b.id: 26241, c.id: 3303, d.id: 26241]) == [b.id: 1, c.id: 0, d.id: 2])
        // Reopened: the same ids.
        let reopened = try DeviceRegistry(directory: directory)
        #expect(try await reopened.lwm2mClientInstances(objects: [a.id: 26241, b.id: 26241, c.id: 3303, d.id: 26241]) == [a.id: 0, b.id: 1, c.id: 0, d.id: 2])
        // b's type now maps to 3303: the lowest free id there; its old id is free for the next device.
        #expect(try await reopened.lwm2mClientInstances(objects: [a.id: 26241, b.id: 3303, c.id: 3303, d.id: 26241]) == [a.id: 0, b.id: 1, c.id: 0, d.id: 2])
        let e = try await reopened.createDevice(name: "e").device
        #expect(try await reopened.lwm2mClientInstances(objects: [a.id: 26241, b.id: 3303, c.id: 3303, d.id: 26241, e.id: 26241])[e.id] == 1)
        // A removed device's row goes with it.
        try await reopened.removeDevice(id: a.id)
        let f = try await reopened.createDevice(name: "f").device
        #expect(try await reopened.lwm2mClientInstances(objects: [f.id: 26241, d.id: 26241, e.id: 26241])[f.id] == 0)
    }

    @Test("the schema survives reopening; the revision counts changes")
    func reopen() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let start = try await registry.revision()
        let (device, _) = try await registry.createDevice(name: "persist")
        try await registry.updateDevice(id: device.id, enabled: false)
        #expect(try await registry.revision() == start + 2)
        let reopened = try DeviceRegistry(directory: directory)
        #expect(try await reopened.device(named: "persist")?.enabled == false)
        #expect(try await reopened.revision() == start + 2)
    }
}
