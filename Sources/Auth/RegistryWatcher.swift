import Logging
import ServiceLifecycle

/// Keeps this gateway's credential cache in step with changes other
/// processes make to the registry (the CLI, another instance), and writes
/// devices' last-activity times in batches instead of once per message.
package struct RegistryWatcher: Service {
    private let registry: DeviceRegistry
    private let authenticator: DeviceAuthenticator
    private let interval: Duration
    private let logger: Logger

    package init(registry: DeviceRegistry, authenticator: DeviceAuthenticator, interval: Duration = .seconds(1), logger: Logger) {
        self.registry = registry
        self.authenticator = authenticator
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        var lastRevision = try? await registry.revision()
        var ticks = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            ticks += 1
            if let revision = try? await registry.revision(), revision != lastRevision {
                authenticator.invalidateAll()
                lastRevision = revision
            }
            if ticks % 5 == 0 { await flushActivity() }
        }
        await flushActivity()
    }

    private func flushActivity() async {
        do {
            try await registry.recordActivity(authenticator.takeActivity())
        } catch {
            logger.warning("could not record device activity", metadata: ["error": "\(error)"])
        }
    }
}
