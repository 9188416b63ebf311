import Auth
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NIOSSL
import ProcessorAPI
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
        var listeners = try await listen(port: shared.configuration.port, tls: nil)
        if let tls = shared.configuration.tls {
            listeners += try await listen(port: tls.port, tls: tls.context)
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

    /// The listeners of one port, one per event loop (SO_REUSEPORT), each
    /// keeping its connections on its own loop; with a TLS context, every
    /// connection starts with a TLS handshake.
    ///
    /// One listener on one loop handed every accepted connection to the next
    /// loop of the group, so half the connects crossed threads (a task and an
    /// eventfd wake-up each) before the first byte was read. With a listener
    /// per loop the kernel spreads the connections over the loops (by their
    /// addresses and ports) and a connection never changes thread.
    private func listen(port: Int, tls: NIOSSLContext?) async throws -> [any Channel] {
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        let reusePort = loops.count > 1
        var port = port
        if reusePort, port != 0 {
            // A plain bind fails if anyone listens on the port. Without this
            // check a second gateway would join the SO_REUSEPORT group silently
            // and be given part of the connections.
            let probe = try await ServerBootstrap(group: loops[0])
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: shared.configuration.host, port: port)
                .get()
            try await probe.close()
        }
        var listeners: [any Channel] = []
        for loop in loops {
            let listener = try await listener(on: loop, port: port, reusePort: reusePort, tls: tls)
            // The first listener settles the port (0 in the tests picks one).
            if let bound = listener.localAddress?.port { port = bound }
            listeners.append(listener)
        }
        shared.logger.info(
            tls == nil ? "MQTT listening" : "MQTT over TLS listening",
            metadata: [
                "address": "\(shared.configuration.host)", "port": "\(port)", "transport": "mqtt", "listeners": "\(listeners.count)",
            ])
        if tls == nil { onListening(port) }
        return listeners
    }

    private func listener(on loop: any EventLoop, port: Int, reusePort: Bool, tls: NIOSSLContext?) async throws -> any Channel {
        let shared = self.shared
        let live = self.live
        return try await ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: reusePort ? 1 : 0)
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
            .bind(host: shared.configuration.host, port: port)
            .get()
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
