import Foundation
import GRDB
import ProcessorAPI
import Synchronization

/// The device registry: devices, their credentials and attributes, in SQLite
/// under DATA_DIR (WAL mode through a GRDB DatabasePool, so the CLI and a
/// running gateway can use one file at once).
///
/// Every change to who may connect (create, enable, disable, rotate, remove)
/// bumps `registry_revision`; gateways poll it to drop stale cache entries
/// written by another process. Observers in this process hear at once.
package final class DeviceRegistry: Sendable {
    package static let fileName = "registry.sqlite"

    let pool: DatabasePool
    /// What one device may keep as client attributes.
    package let clientAttributeQuota: AttributeQuota
    private let observers = Mutex<[@Sendable (String?) -> Void]>([])

    /// Opens (creating if needed) `directory/registry.sqlite` and migrates it.
    package convenience init(directory: String, clientAttributeQuota: AttributeQuota = .default) throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RegistryError.database("cannot create \(directory): \(error.localizedDescription)")
        }
        try self.init(path: (directory as NSString).appendingPathComponent(Self.fileName), clientAttributeQuota: clientAttributeQuota)
    }

    package init(path: String, clientAttributeQuota: AttributeQuota = .default) throws(RegistryError) {
        self.clientAttributeQuota = clientAttributeQuota
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            pool = try DatabasePool(path: path, configuration: configuration)
            try RegistrySchema.migrator.migrate(pool)
        } catch {
            throw RegistryError.database("\(path): \(error)")
        }
    }

    /// Calls `observer` with the device id after every change to a device's
    /// credentials or enabled state (nil: anything may have changed).
    package func addObserver(_ observer: @escaping @Sendable (String?) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func changed(_ deviceId: String?) {
        for observer in observers.withLock({ $0 }) { observer(deviceId) }
    }

    /// Runs a database call, mapping GRDB's errors to `RegistryError`.
    func run<T>(_ body: () async throws -> T) async throws(RegistryError) -> T {
        do {
            return try await body()
        } catch {
            throw Self.registryError(error)
        }
    }

    static func registryError(_ error: any Error) -> RegistryError {
        switch error {
        case let error as RegistryError:
            error
        case let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE:
            RegistryError.database("unique constraint: \(error.message ?? "")")
        default:
            RegistryError.database("\(error)")
        }
    }

    /// The current revision of credentials and enabled flags.
    package func revision() async throws(RegistryError) -> Int64 {
        try await run {
            try await pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0
            }
        }
    }

    /// Whether the database answers (for `/ready`).
    package func isOpen() async -> Bool {
        (try? await revision()) != nil
    }

    static func bumpRevision(_ db: Database) throws {
        try db.execute(sql: "UPDATE registry_revision SET revision = revision + 1 WHERE id = 1")
    }

    static func now() -> Int64 { EpochClock.nowMilliseconds() }
}

extension Device {
    /// The columns `init(row:from:)` reads, in its order: every query that
    /// reads devices selects these.
    static let columns = """
        devices.id, devices.name, devices.type, devices.enabled, devices.created_at, devices.updated_at, \
        devices.last_activity_at
        """

    /// A device from `columns`, starting at column `first`: by position, so
    /// a batch of thousands of look-ups does not hash column names per row.
    init(row: Row, from first: Int) {
        self.init(
            id: row[first],
            name: row[first + 1],
            type: row[first + 2],
            enabled: row[first + 3],
            createdAt: row[first + 4],
            updatedAt: row[first + 5],
            lastActivityAt: row[first + 6]
        )
    }
}
