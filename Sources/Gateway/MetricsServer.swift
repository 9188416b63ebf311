import Auth
import Hummingbird
import Logging
import NIOCore
import ProcessorAPI
import Prometheus
import ServiceLifecycle

/// `/metrics` (Prometheus text format), `/health` and `/ready` on METRICS_PORT.
enum MetricsServer {
    static func make(
        host: String,
        port: Int,
        prometheus: PrometheusCollectorRegistry,
        registry: DeviceRegistry,
        sink: any MessageSink,
        logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            prometheus.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("/health") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"UP"}"#)))
        }
        router.get("/ready") { _, _ in
            async let registryOpen = registry.isOpen()
            async let sinkReachable = sink.isReachable()
            let (open, reachable) = await (registryOpen, sinkReachable)
            let body = #"{"ready":\#(open && reachable),"registry":\#(open),"sink":\#(reachable)}"#
            return Response(
                status: open && reachable ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        return Application(
            router: router,
            server: OperatorHTTPLimits.server,
            configuration: OperatorHTTPLimits.configuration(host: host, port: port, logger: logger),
            onServerRunning: { channel in
                logger.info(
                    "metrics listening",
                    metadata: ["address": "\(host)", "port": "\(channel.localAddress?.port ?? port)"])
            },
            logger: logger
        )
    }
}
