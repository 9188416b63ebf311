import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP device API server (Hummingbird), a Service of the gateway's group.
package enum HTTPTransport {
    /// Builds the server; `onListening` receives the bound port (useful with port 0).
    package static func makeServer(
        api: DeviceAPI,
        logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> some Service {
        let router = Router(context: DeviceRequestContext.self)
        api.addRoutes(to: router)
        let configuration = ApplicationConfiguration(
            address: .hostname(api.configuration.host, port: api.configuration.port),
            serverName: nil,
            backlog: 1024,
            reuseAddress: true
        )
        return Application(
            router: router,
            configuration: configuration,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? api.configuration.port
                logger.info(
                    "HTTP device API listening",
                    metadata: ["address": "\(api.configuration.host)", "port": "\(port)", "transport": "http"]
                )
                onListening(port)
            },
            logger: logger
        )
    }
}
