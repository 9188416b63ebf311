import Auth
import Hummingbird
import Logging
import LwM2M
import Processor
import ProcessorAPI
import ServiceLifecycle

/// The admin API server on ADMIN_BIND_ADDRESS:ADMIN_BIND_PORT.
enum AdminServer {
    static func make(
        host: String,
        port: Int,
        apiKey: String,
        registry: DeviceRegistry,
        deviceSessions: DeviceSessions,
        persistentRPC: PersistentRPCService,
        lwm2m: LwM2MServer?,
        maxPayloadSize: Int,
        failures: AuthFailureThrottle,
        metrics: GatewayMetrics,
        logger: Logger
    ) -> some Service {
        let api = AdminAPI(registry: registry, deviceSessions: deviceSessions, persistentRPC: persistentRPC, lwm2m: lwm2m, maxPayloadSize: maxPayloadSize, logger: logger)
        return Application(
            router: api.makeRouter(apiKey: apiKey, failures: failures, metrics: metrics),
            server: OperatorHTTPLimits.server,
            configuration: OperatorHTTPLimits.configuration(host: host, port: port, logger: logger),
            onServerRunning: { channel in
                logger.info(
                    "admin API listening",
                    metadata: ["address": "\(host)", "port": "\(channel.localAddress?.port ?? port)"])
            },
            logger: logger
        )
    }
}
