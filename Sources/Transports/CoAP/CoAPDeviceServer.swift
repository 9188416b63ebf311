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
        // One socket per event loop on the same port (SO_REUSEPORT): a single
        // UDP socket is served by one thread, which capped the API at one
        // core. The kernel keeps each device (address and port) on one socket.
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        var endpoints: [CoAPEndpoint] = []
        var configuration = api.configuration.endpoint
        if configuration.port != 0, loops.count > 1 {
            // A plain bind fails if anyone holds the port. Without this check a
            // second gateway would join the SO_REUSEPORT group silently and
            // take part of the devices' datagrams.
            let probe = try await DatagramBootstrap(group: loops[0]).bind(host: configuration.host, port: configuration.port).get()
            try await probe.close()
        }
        let blockSlots = CoAPBlockSlots(configuration)
        for loop in loops {
            let endpoint = try await CoAPEndpoint.bind(
                configuration: configuration, group: loop, reusePort: loops.count > 1, blockSlots: blockSlots, logger: api.logger
            ) {
                CoAPDeviceHandler(api: api)
            }
            // The first socket settles the port (0 in the tests picks one).
            if let port = endpoint.localAddress?.port { configuration.port = port }
            endpoints.append(endpoint)
        }
        let port = configuration.port
        let buffer = (try? await endpoints[0].channel.getOption(.socketOption(.so_rcvbuf)).get()).map { "\($0)" } ?? "unknown"
        api.logger.info(
            "CoAP device API listening",
            metadata: [
                "address": "\(api.configuration.endpoint.host)", "port": "\(port)", "transport": "coap", "sockets": "\(endpoints.count)",
                // Linux reports twice what was granted; a value far below COAP_RECEIVE_BUFFER_SIZE means net.core.rmem_max capped it.
                "receive_buffer": "\(buffer)",
            ])
        onListening(port)
        try? await gracefulShutdown()
        // Requests in flight get the sink's verdict (or 5.03 at COAP_ACK_TIMEOUT); new ones 5.03.
        await withTaskGroup(of: Void.self) { group in
            for endpoint in endpoints {
                group.addTask { await endpoint.drain(timeout: api.configuration.ackTimeout + .seconds(1)) }
            }
        }
        for endpoint in endpoints { await endpoint.close() }
        api.logger.info("CoAP device API stopped")
    }
}
