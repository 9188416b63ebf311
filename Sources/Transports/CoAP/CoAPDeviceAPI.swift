import Auth
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ProcessorAPI
import Synchronization

/// What the CoAP device API shares with the rest of the gateway.
package struct CoAPDeviceAPI: Sendable {
    let configuration: CoAPTransportConfiguration
    let authenticator: DeviceAuthenticator
    let registry: DeviceRegistry
    let rateLimiter: RateLimiter?
    let ingest: any MessageIngest
    let deviceSessions: any DeviceSessionRegistry
    let metrics: GatewayMetrics
    let logger: Logger
    /// What the handlers of the API's sockets (one per event loop) share.
    let shared = CoAPDeviceAPIShared()

    package init(
        configuration: CoAPTransportConfiguration,
        authenticator: DeviceAuthenticator,
        registry: DeviceRegistry,
        rateLimiter: RateLimiter?,
        ingest: any MessageIngest,
        deviceSessions: any DeviceSessionRegistry,
        metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.authenticator = authenticator
        self.registry = registry
        self.rateLimiter = rateLimiter
        self.ingest = ingest
        self.deviceSessions = deviceSessions
        self.metrics = metrics
        self.logger = logger
    }
}

/// What the handlers of all the API's sockets share: a device may reach
/// the gateway from several addresses (and so through several sockets), but
/// it is one device, connected once; client RPC ids are the process's.
final class CoAPDeviceAPIShared: Sendable {
    /// Touched on every request from both sockets' event loops: NIOLock, not
    /// Synchronization.Mutex (see MessageProcessor.state).
    private let devices = NIOLockedValueBox<[String: CoAPConnectedDevice]>([:])
    private let lastClientRPC = Atomic<Int>(0)

    func nextClientRPC() -> Int { lastClientRPC.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Marks the device active now; the connected-device count if it was not connected before.
    func touch(_ device: DeviceIdentity, now: NIODeadline) -> Int? {
        devices.withLockedValue { devices in
            if devices[device.id] != nil {
                devices[device.id]!.lastActivity = now
                return nil
            }
            devices[device.id] = CoAPConnectedDevice(identity: device, lastActivity: now, observations: 0)
            return devices.count
        }
    }

    func observationStarted(_ deviceId: String) {
        devices.withLockedValue { $0[deviceId]?.observations += 1 }
    }

    func observationEnded(_ deviceId: String, now: NIODeadline) {
        devices.withLockedValue { devices in
            guard var state = devices[deviceId] else { return }
            state.observations = max(0, state.observations - 1)
            state.lastActivity = now
            devices[deviceId] = state
        }
    }

    /// Removes the devices with no observation and no request since `cutoff`;
    /// returns them and the count left.
    func sweep(cutoff: NIODeadline) -> (gone: [DeviceIdentity], left: Int) {
        devices.withLockedValue { devices in
            let gone = devices.values.filter { $0.observations == 0 && $0.lastActivity < cutoff }.map(\.identity)
            for device in gone { devices[device.id] = nil }
            return (gone, devices.count)
        }
    }
}
