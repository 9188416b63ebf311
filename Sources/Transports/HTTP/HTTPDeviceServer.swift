import Auth
import Logging
import NIOCore
import NIOPosix
import ProcessorAPI
import ServiceLifecycle

/// The ThingsBoard HTTP device API on SwiftNIO with the API's own HTTP/1.1
/// decoder (DeviceHTTPRequestDecoder), a Service of the gateway's group.
/// (The admin API and /metrics use Hummingbird; this hot path avoids its
/// task hop per request.)
package final class HTTPDeviceServer: Service {
    private let api: DeviceAPI
    private let connections = OpenConnections<HTTPDeviceHandler>()
    private let admission: ConnectionAdmission
    private let warnings = WarningThrottle()
    private let onListening: @Sendable (Int) -> Void

    package init(api: DeviceAPI, onListening: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.api = api
        self.onListening = onListening
        self.admission = ConnectionAdmission(
            total: api.configuration.maxConnections, perAddress: api.configuration.maxConnectionsPerAddress)
    }

    package func run() async throws {
        let api = self.api
        let connections = self.connections
        let configuration = api.configuration
        let (admission, warnings) = (self.admission, self.warnings)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let address = channel.remoteAddress?.ipAddress ?? "unknown"
                    if let refusal = admission.admit(address) {
                        let limit = refusal == .full ? "HTTP_MAX_CONNECTIONS" : "HTTP_MAX_CONNECTIONS_PER_ADDRESS"
                        api.metrics.connectionRefused(TransportKind.http.rawValue, refusal == .full ? .maxConnections : .perAddress)
                        if warnings.shouldWarn(address) {
                            api.logger.warning("HTTP connection refused", metadata: ["remote_address": "\(address)", "limit": "\(limit)"])
                        }
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionRefusal(limit: limit))
                        return
                    }
                    channel.closeFuture.whenComplete { _ in admission.release(address) }
                    let handler = HTTPDeviceHandler(api: api)
                    try channel.pipeline.syncOperations.addHandler(HTTPReadObserver(handler))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(DeviceHTTPRequestDecoder(maximumBodySize: configuration.maxPayloadSize)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    connections.track(channel, handler)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let port = channel.localAddress?.port ?? configuration.port
        api.logger.info(
            "HTTP device API listening", metadata: ["address": "\(configuration.host)", "port": "\(port)", "transport": "http"])
        onListening(port)

        try? await gracefulShutdown()
        // Stop accepting, let requests in flight get their answer, then close.
        try? await channel.close()
        for connection in connections.all {
            connection.eventLoop.execute { connection.value.shutdown() }
        }
        let deadline = ContinuousClock.now + configuration.ackTimeout + .seconds(1)
        while !connections.all.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        api.logger.info("HTTP device API stopped")
    }
}
