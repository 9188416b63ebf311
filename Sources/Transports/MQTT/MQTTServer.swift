import Auth
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NIOSSL
import ProcessorAPI
import ServiceLifecycle
import Synchronization

/// The MQTT device API server (ThingsBoard topics, MQTT 3.1.1 and 5.0), a
/// Service of the gateway's group.
package final class MQTTServer: Service {
    private let shared: MQTTServerContext
    private let live = OpenConnections<MQTTConnectionHandler>()
    private let onListening: @Sendable (Int) -> Void

    package init(
        configuration: MQTTTransportConfiguration,
        authenticator: DeviceAuthenticator,
        registry: DeviceRegistry,
        rateLimiter: RateLimiter?,
        ingest: any MessageIngest,
        deviceSessions: any DeviceSessionRegistry,
        metrics: GatewayMetrics,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.shared = MQTTServerContext(
            configuration: configuration, authenticator: authenticator, registry: registry,
            rateLimiter: rateLimiter, ingest: ingest, deviceSessions: deviceSessions, metrics: metrics, logger: logger)
        self.onListening = onListening
    }

    package func run() async throws {
        var listeners: [any Channel] = [try await listen(port: shared.configuration.port, tls: nil)]
        if let tls = shared.configuration.tls {
            listeners.append(try await listen(port: tls.port, tls: tls.context))
        }

        // Serve until the group shuts down gracefully.
        try? await gracefulShutdown()
        for listener in listeners { try? await listener.close() }
        for connection in live.all {
            connection.eventLoop.execute { connection.value.serverShutdown() }
        }
        // Give sessions time for the sink to answer what they hold.
        let deadline = ContinuousClock.now + .seconds(5)
        while !live.all.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for connection in live.all {
            connection.eventLoop.execute { connection.value.close() }
        }
        shared.logger.info("MQTT server stopped")
    }

    /// One listener; with a TLS context, every connection starts with a TLS handshake.
    private func listen(port: Int, tls: NIOSSLContext?) async throws -> any Channel {
        let shared = self.shared
        let live = self.live
        let configuration = shared.configuration
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Without TCP_NODELAY pipelined PUBACKs wait ~40 ms on Nagle and delayed ACK.
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A client's FIN must not discard what it sent before (see userInboundEventTriggered).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls { try operations.addHandler(NIOSSLServerHandler(context: tls)) }
                    let encoder = MQTTPacketEncoder()
                    let handler = MQTTConnectionHandler(shared: shared, encoder: encoder)
                    try operations.addHandler(MessageToByteHandler(encoder))
                    try operations.addHandler(handler)
                    live.track(channel, handler)
                }
            }
            .bind(host: configuration.host, port: port)
            .get()
        let bound = channel.localAddress?.port ?? port
        shared.logger.info(
            tls == nil ? "MQTT listening" : "MQTT over TLS listening",
            metadata: ["address": "\(configuration.host)", "port": "\(bound)", "transport": "mqtt"])
        if tls == nil { onListening(bound) }
        return channel
    }
}

extension MQTTConnectionHandler {
    /// Stop reading; close once the sink answered everything in flight
    /// (DISCONNECT 0x8B on 5.0).
    func serverShutdown() {
        endReason = .serverShutdown
        closingWhenIdle = true
        blocked = true
        if state == .connected {
            readingPaused = true
            context?.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
        if inFlight == 0 { disconnect(.serverShuttingDown) }
    }
}
