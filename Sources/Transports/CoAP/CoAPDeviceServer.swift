import CoAPEndpoint
import Logging
import NIOCore
import NIOPosix
import ProcessorAPI
import ServiceLifecycle

/// The ThingsBoard CoAP device API on COAP_BIND_ADDRESS:COAP_BIND_PORT, a
/// Service of the gateway's group.
package final class CoAPDeviceServer: Service {
    private let api: CoAPDeviceAPI
    private let onListening: @Sendable (Int) -> Void

    package init(api: CoAPDeviceAPI, onListening: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.api = api
        self.onListening = onListening
    }

    package func run() async throws {
        let api = self.api
        let endpoint = try await CoAPEndpoint.bind(configuration: api.configuration.endpoint, logger: api.logger) {
            CoAPDeviceHandler(api: api)
        }
        let port = endpoint.localAddress?.port ?? api.configuration.endpoint.port
        let buffer = (try? await endpoint.channel.getOption(.socketOption(.so_rcvbuf)).get()).map { "\($0)" } ?? "unknown"
        api.logger.info(
            "CoAP device API listening",
            metadata: [
                "address": "\(api.configuration.endpoint.host)", "port": "\(port)", "transport": "coap",
                // Linux reports twice what was granted; a value far below COAP_RECEIVE_BUFFER_SIZE means net.core.rmem_max capped it.
                "receive_buffer": "\(buffer)",
            ])
        onListening(port)
        try? await gracefulShutdown()
        // Requests in flight get the sink's verdict (or 5.03 at COAP_ACK_TIMEOUT); new ones 5.03.
        await endpoint.drain(timeout: api.configuration.ackTimeout + .seconds(1))
        await endpoint.close()
        api.logger.info("CoAP device API stopped")
    }
}
