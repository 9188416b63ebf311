import CoAPEndpoint
import ProcessorAPI

/// The LwM2M client role's settings (LWM2M_CLIENT_*): the gateway registers
/// with one upstream LwM2M server as one client exposing its devices.
package struct LwM2MClientConfiguration: Sendable {
    /// LWM2M_CLIENT_SERVER_URI, `coap://host:port`: host and port.
    package var serverHost: String
    package var serverPort: Int
    /// LWM2M_CLIENT_ENDPOINT: the endpoint client name (`ep`).
    package var endpointName: String
    /// LWM2M_CLIENT_LIFETIME (`lt`); an Update goes out at about half of it.
    package var lifetime: Duration
    /// LWM2M_CLIENT_BINDING (`b`): U only, the one transport built.
    package var binding: String
    /// LWM2M_CLIENT_VERSION (`lwm2m`): 1.1 or 1.0.
    package var version: String
    /// LWM2M_CLIENT_BOOTSTRAP_URI: when set, the server account comes from
    /// this bootstrap server first (Core §6.1), not from the server URI.
    package var bootstrapHost: String?
    package var bootstrapPort: Int = 5683
    /// The local socket (any free port) and the CoAP parameters.
    package var endpoint: CoAPEndpointConfiguration
    /// How long a Register, Update or De-register waits for the server.
    package var requestTimeout: Duration
    /// The longest wait between two registration attempts (the backoff doubles up to it).
    package var maximumBackoff: Duration

    package init(
        serverHost: String,
        serverPort: Int = 5683,
        endpointName: String = "tb-gateway",
        lifetime: Duration = .seconds(300),
        binding: String = "U",
        version: String = "1.1",
        endpoint: CoAPEndpointConfiguration = CoAPEndpointConfiguration(host: "0.0.0.0", port: 0),
        requestTimeout: Duration = .seconds(10),
        maximumBackoff: Duration = .seconds(60)
    ) {
        self.serverHost = serverHost
        self.serverPort = serverPort
        self.endpointName = endpointName
        self.lifetime = lifetime
        self.binding = binding
        self.version = version
        self.endpoint = endpoint
        self.requestTimeout = requestTimeout
        self.maximumBackoff = maximumBackoff
    }

    /// `coap://host[:port]` (IPv6 literals in brackets); nil if not one.
    package static func parseServerURI(_ text: String) -> (host: String, port: Int)? {
        guard text.hasPrefix("coap://") else { return nil }
        return HostPort.parse(text.dropFirst("coap://".count), defaultPort: 5683)
    }
}
