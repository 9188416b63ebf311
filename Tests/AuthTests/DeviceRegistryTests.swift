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

        _ = try await registry.createDevice(name: "a-first", token: "given-token-1")
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
        _ = try await registry.createDevice(name: "d", token: "plain-text-token")
        let queue = try DatabaseQueue(path: directory + "/registry.sqlite")
        let values = try await queue.read { db in try String.fetchAll(db, sql: "SELECT value FROM device_credentials") }
        #expect(values == [AccessToken.hash("plain-text-token")])
        let dump = try Data(contentsOf: URL(fileURLWithPath: directory + "/registry.sqlite"))
        #expect(dump.range(of: Data("plain-text-token".utf8)) == nil)
    }

    @Test("duplicate names, reused tokens and bad values are refused")
    func refusals() async throws {
        let (registry, directory) = try makeRegistry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await registry.createDevice(name: "dup", token: "tok-1")
        await #expect(throws: RegistryError.duplicateName("dup")) { try await registry.createDevice(name: "dup") }
        await #expect(throws: RegistryError.self) { try await registry.createDevice(name: "other", token: "tok-1") }
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
