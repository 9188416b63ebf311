import GRDB

/// Versioned schema migrations of the registry; a migration once released is
/// never edited, only followed by a new one.
enum RegistrySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE devices (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    last_activity_at INTEGER
                );
                CREATE TABLE device_credentials (
                    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    value TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (kind, value)
                );
                CREATE INDEX device_credentials_by_device ON device_credentials(device_id);
                CREATE TABLE attributes (
                    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
                    scope TEXT NOT NULL CHECK (scope IN ('client', 'shared', 'server')),
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (device_id, scope, key)
                );
                CREATE TABLE registry_revision (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    revision INTEGER NOT NULL
                );
                INSERT INTO registry_revision (id, revision) VALUES (1, 0);
                """)
        }
        // Operations waiting for a sleeping LwM2M device (queue mode), kept
        // across restarts; `request` is the operation as its owner encodes it.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE queued_operations (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
                    request TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('QUEUED', 'SENDING', 'CONFIRMED', 'FAILED')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    result TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX queued_operations_by_device ON queued_operations(device_id, status, id);
                """)
        }
        // Persistent server-side RPC: kept until the device is there to take it.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE persistent_rpcs (
                    id INTEGER PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
                    method TEXT NOT NULL,
                    params TEXT NOT NULL,
                    timeout_ms INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    response TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX persistent_rpcs_by_device ON persistent_rpcs(device_id, status, id);
                """)
        }
        // The LwM2M client role: each device's object instance id upstream,
        // stable across restarts (issue 11).
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                CREATE TABLE lwm2m_client_instances (
                    device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
                    object_id INTEGER NOT NULL,
                    instance_id INTEGER NOT NULL,
                    UNIQUE (object_id, instance_id)
                );
                """)
        }
        return migrator
    }
}
