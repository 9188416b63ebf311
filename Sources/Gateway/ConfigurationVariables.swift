/// Every environment variable the gateway reads, with its default and
/// meaning: the single source of `.env.example` (`tb-gateway config
/// env-example` prints it) and of `tb-gateway config check`.
struct ConfigurationVariable: Sendable {
    let name: String
    /// The default as written in `.env.example`; empty means unset.
    let defaultValue: String
    let help: String
    var secret = false
    /// The `.env.example` section the variable is listed under.
    let section: String
}

enum ConfigurationVariables {
    static let all: [ConfigurationVariable] = [
        // Backend (HTTP sink) and gateway identity
        .init(name: "TB_HOST", defaultValue: "localhost", help: "HTTP backend host (used when KAFKA_ENABLED=false)", section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "TB_PORT", defaultValue: "8080", help: "HTTP backend port", section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "TB_PROTOCOL", defaultValue: "http", help: "HTTP backend scheme: http or https", section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "TB_TELEMETRY_PATH", defaultValue: "/api/v1/gateway/telemetry", help: "path telemetry batches are POSTed to", section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "TB_ATTRIBUTES_PATH", defaultValue: "/api/v1/gateway/attributes", help: "path attribute batches are POSTed to", section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "GATEWAY_ACCESS_TOKEN", defaultValue: "", help: "sent to the HTTP backend as 'Authorization: Bearer …'", secret: true, section: "HTTP backend (KAFKA_ENABLED=false)"),
        .init(name: "HTTP_SINK_TIMEOUT", defaultValue: "30", help: "seconds a batch is retried against the HTTP backend before it fails", section: "HTTP backend (KAFKA_ENABLED=false)"),
        // MQTT
        .init(name: "MQTT_ENABLED", defaultValue: "true", help: "serve the MQTT device API (3.1.1 and 5.0)", section: "MQTT transport"),
        .init(name: "MQTT_BIND_ADDRESS", defaultValue: "0.0.0.0", help: "MQTT listen address", section: "MQTT transport"),
        .init(name: "MQTT_BIND_PORT", defaultValue: "1883", help: "MQTT listen port", section: "MQTT transport"),
        .init(name: "MQTT_SSL_ENABLED", defaultValue: "false", help: "also listen for MQTT over TLS on MQTT_SSL_PORT", section: "MQTT transport"),
        .init(name: "MQTT_SSL_PORT", defaultValue: "8883", help: "MQTT over TLS listen port (0: any free port, logged)", section: "MQTT transport"),
        .init(name: "MQTT_SSL_CERT_FILE", defaultValue: "", help: "PEM certificate chain for MQTT over TLS", section: "MQTT transport"),
        .init(name: "MQTT_SSL_KEY_FILE", defaultValue: "", help: "PEM private key for MQTT over TLS", section: "MQTT transport"),
        .init(name: "MQTT_SSL_CA_FILE", defaultValue: "", help: "PEM CA bundle to verify client certificates (optional)", section: "MQTT transport"),
        .init(name: "MQTT_MAX_CONNECTIONS", defaultValue: "10000", help: "most concurrent MQTT connections past CONNECT (CONNACK 3 / 0x88 beyond); sockets without CONNECT do not count", section: "MQTT transport"),
        .init(name: "MQTT_MAX_PENDING_CONNECTIONS", defaultValue: "10000", help: "most sockets that have not sent CONNECT yet; beyond, a new socket is closed at once (docs/security.md)", section: "MQTT transport"),
        .init(name: "MQTT_MAX_PENDING_PER_ADDRESS", defaultValue: "1000", help: "of those, the most one IP address holds", section: "MQTT transport"),
        .init(name: "MQTT_CONNECT_TIMEOUT", defaultValue: "10", help: "seconds a socket may take to send CONNECT before it is closed", section: "MQTT transport"),
        .init(name: "MQTT_MAX_SUBSCRIPTIONS", defaultValue: "32", help: "topic filters one connection may hold; more get SUBACK 0x97 (0x80 on 3.1.1)", section: "MQTT transport"),
        // MQTT bridge
        .init(name: "MQTT_BRIDGE_ENABLED", defaultValue: "false", help: "take routed topics from an existing MQTT broker through libmosquitto (docs/mqtt-bridge.md)", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_URL", defaultValue: "mqtt://localhost:1883", help: "the broker: mqtt://host:port or mqtts://host:port", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_CLIENT_ID", defaultValue: "tb-gateway-bridge", help: "client id; with a persistent session it must stay the same across restarts", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_USERNAME", defaultValue: "", help: "user name at the broker (optional)", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_PASSWORD", defaultValue: "", help: "password at the broker (optional)", secret: true, section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_CA_FILE", defaultValue: "", help: "PEM CA bundle that signed the broker's certificate (mqtts; default: the system's)", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_CERT_FILE", defaultValue: "", help: "PEM client certificate (mqtts, optional)", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_KEY_FILE", defaultValue: "", help: "PEM key of the client certificate", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_CLEAN_SESSION", defaultValue: "false", help: "false: the broker keeps QoS 1 messages for the bridge while the gateway is away", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_ROUTES", defaultValue: "mqtt-bridge-routes.json", help: "routes file in DATA_DIR (docs/mqtt-bridge.md); absent: sensors/{device}/telemetry, …/attributes, …/rpc/response/{id}", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_MAX_IN_HAND", defaultValue: "256", help: "messages acknowledged to the broker but not yet in the sink; at this many the bridge pauses; the most a crash can lose", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_CREATE_DEVICES", defaultValue: "false", help: "provision an unknown device name on first sight instead of refusing it", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_MAX_CREATED_DEVICES", defaultValue: "1000", help: "with MQTT_BRIDGE_CREATE_DEVICES: no more devices are provisioned once the registry holds this many of MQTT_BRIDGE_DEVICE_TYPE", section: "MQTT bridge"),
        .init(name: "MQTT_BRIDGE_DEVICE_TYPE", defaultValue: "default", help: "device type of devices the bridge provisions", section: "MQTT bridge"),
        // HTTP
        .init(name: "HTTP_ENABLED", defaultValue: "true", help: "serve the HTTP device API", section: "HTTP transport"),
        .init(name: "HTTP_BIND_ADDRESS", defaultValue: "0.0.0.0", help: "HTTP device API listen address", section: "HTTP transport"),
        .init(name: "HTTP_BIND_PORT", defaultValue: "8081", help: "HTTP device API listen port (0: any free port, logged)", section: "HTTP transport"),
        .init(name: "HTTP_ACK_TIMEOUT", defaultValue: "10", help: "seconds a request waits for the sink before it is answered 503; a client-side RPC waits this long in all for the answer (408 without one)", section: "HTTP transport"),
        .init(name: "HTTP_MAX_CONNECTIONS", defaultValue: "10000", help: "most open HTTP device API connections; beyond, a new one is answered 503 and closed", section: "HTTP transport"),
        .init(name: "HTTP_MAX_CONNECTIONS_PER_ADDRESS", defaultValue: "1000", help: "of those, the most one IP address holds", section: "HTTP transport"),
        .init(name: "HTTP_REQUEST_TIMEOUT", defaultValue: "10", help: "seconds from a request's first byte to its last; a slower request is answered 408 and the connection closed", section: "HTTP transport"),
        .init(name: "HTTP_IDLE_TIMEOUT", defaultValue: "60", help: "seconds a keep-alive connection may wait between requests before it is closed", section: "HTTP transport"),
        // CoAP and LwM2M
        .init(name: "COAP_ENABLED", defaultValue: "true", help: "serve the CoAP device API (UDP)", section: "CoAP and LwM2M transports"),
        .init(name: "COAP_BIND_ADDRESS", defaultValue: "0.0.0.0", help: "CoAP listen address", section: "CoAP and LwM2M transports"),
        .init(name: "COAP_BIND_PORT", defaultValue: "5683", help: "CoAP listen port (0: any free port, logged)", section: "CoAP and LwM2M transports"),
        .init(name: "COAP_RECEIVE_BUFFER_SIZE", defaultValue: "4194304", help: "SO_RCVBUF bytes asked for the CoAP socket (the kernel caps it at net.core.rmem_max)", section: "CoAP and LwM2M transports"),
        .init(name: "COAP_ACK_TIMEOUT", defaultValue: "10", help: "seconds a CoAP request waits for the sink before it is answered 5.03 (after 1 s it gets an empty ACK and a separate response); a client-side RPC waits this long for the answer (5.04 without one)", section: "CoAP and LwM2M transports"),
        .init(name: "COAP_SESSION_TIMEOUT", defaultValue: "300", help: "seconds a CoAP device without an observation counts as connected after its last request", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_ENABLED", defaultValue: "false", help: "serve the LwM2M server role (UDP): registration, device management, observations as telemetry", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_BIND_ADDRESS", defaultValue: "0.0.0.0", help: "LwM2M listen address", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_BIND_PORT", defaultValue: "5685", help: "LwM2M listen port (0: any free port, logged)", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_MODELS_DIR", defaultValue: "", help: "directory of extra LwM2M object models (OMA DDF *.xml or the project's *.json); they replace built-in ids", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_QUEUE_AWAKE_TIME", defaultValue: "93", help: "seconds a queue-mode LwM2M client stays reachable after its last Register/Update; later operations are queued", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_REQUEST_TIMEOUT", defaultValue: "10", help: "seconds a server-initiated LwM2M operation (read, write, observe, …) waits for the device", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_ENABLED", defaultValue: "false", help: "register with an upstream LwM2M server as one client exposing every enabled device (docs/lwm2m.md)", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_SERVER_URI", defaultValue: "coap://localhost:5683", help: "the upstream LwM2M server, coap://host:port (NoSec)", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_BOOTSTRAP_URI", defaultValue: "", help: "a bootstrap server, coap://host:port, that gives the server account first (then LWM2M_CLIENT_SERVER_URI is not used)", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_ENDPOINT", defaultValue: "tb-gateway", help: "the endpoint client name the gateway registers with", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_LIFETIME", defaultValue: "300", help: "registration lifetime in seconds; an Update goes out at about half of it", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_BINDING", defaultValue: "U", help: "binding mode of the registration (U: UDP, the one built)", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_VERSION", defaultValue: "1.1", help: "LwM2M version the client registers with: 1.1 or 1.0", section: "CoAP and LwM2M transports"),
        .init(name: "LWM2M_CLIENT_MAPPING", defaultValue: "lwm2m-client-mapping.json", help: "file in DATA_DIR mapping device types to objects and keys to resources (docs/lwm2m.md); absent: the default object 26241", section: "CoAP and LwM2M transports"),
        // Kafka
        .init(name: "KAFKA_ENABLED", defaultValue: "true", help: "forward to Kafka (false: to the HTTP backend)", section: "Kafka sink"),
        .init(name: "KAFKA_BOOTSTRAP_SERVERS", defaultValue: "embedded", help: "host:port list, or 'embedded' for an in-process development broker (memory only, recent data only)", section: "Kafka sink"),
        .init(name: "KAFKA_TOPIC_TELEMETRY", defaultValue: "tb.telemetry", help: "telemetry topic", section: "Kafka sink"),
        .init(name: "KAFKA_TOPIC_ATTRIBUTES", defaultValue: "tb.attributes", help: "client attribute topic", section: "Kafka sink"),
        .init(name: "KAFKA_TOPIC_EVENTS", defaultValue: "tb.events", help: "connectivity event topic", section: "Kafka sink"),
        .init(name: "KAFKA_TOPIC_RPC", defaultValue: "tb.rpc", help: "RPC response and client RPC topic", section: "Kafka sink"),
        .init(name: "KAFKA_TOPIC_COMMANDS", defaultValue: "tb.commands", help: "command topic the gateway consumes: shared attributes, RPC and RPC responses for devices", section: "Kafka sink"),
        .init(name: "KAFKA_COMMANDS_GROUP_ID", defaultValue: "", help: "consumer group of this instance on the command topic (default tb-gateway-<hostname>; each instance needs its own)", section: "Kafka sink"),
        .init(name: "KAFKA_LINGER_MS", defaultValue: "1", help: "librdkafka linger.ms; added to every device's acknowledgement (docs/deviations.md)", section: "Kafka sink"),
        .init(name: "KAFKA_DELIVERY_TIMEOUT", defaultValue: "30", help: "seconds librdkafka tries to deliver a record (message.timeout.ms)", section: "Kafka sink"),
        .init(name: "KAFKA_COMPRESSION", defaultValue: "none", help: "none, gzip, snappy, lz4 or zstd", section: "Kafka sink"),
        // Processor
        .init(name: "BATCH_SIZE", defaultValue: "100", help: "most messages handed to the sink at once", section: "Processor"),
        .init(name: "BATCH_TIMEOUT", defaultValue: "1.0", help: "seconds a message may wait in the queue for a busy sink (never a delay added on purpose)", section: "Processor"),
        .init(name: "QUEUE_CAPACITY", defaultValue: "100000", help: "messages queued before devices are pushed back", section: "Processor"),
        .init(name: "QUEUE_MAX_BYTES", defaultValue: "268435456", help: "bytes of queued messages (their values plus 128 each) before devices are pushed back", section: "Processor"),
        .init(name: "MAX_PAYLOAD_SIZE", defaultValue: "65536", help: "largest accepted payload in bytes", section: "Processor"),
        .init(name: "SHUTDOWN_TIMEOUT", defaultValue: "10", help: "seconds to deliver what is queued on SIGTERM", section: "Processor"),
        // Auth
        .init(name: "DATA_DIR", defaultValue: "./data", help: "where the device registry (SQLite) lives", section: "Devices and auth"),
        .init(name: "AUTH_CACHE_TTL", defaultValue: "3600", help: "seconds a token stays in the credential cache", section: "Devices and auth"),
        .init(name: "CLIENT_ATTRIBUTES_MAX_KEYS", defaultValue: "1000", help: "client attributes one device may keep; an upload past it is refused whole (HTTP 413, CoAP 4.13, MQTT 5 PUBACK 0x97)", section: "Devices and auth"),
        .init(name: "CLIENT_ATTRIBUTES_MAX_BYTES", defaultValue: "1048576", help: "bytes of client-attribute keys and values one device may keep; refused like CLIENT_ATTRIBUTES_MAX_KEYS", section: "Devices and auth"),
        .init(name: "AUTH_FAILURES_PER_ADDRESS", defaultValue: "20", help: "wrong device tokens (looked up) or admin keys one IP address may send within a minute; then its look-ups and admin requests are refused (429, 4.29, CONNACK 0x9F) for the rest of the minute", section: "Devices and auth"),
        .init(name: "RATE_LIMIT_ENABLED", defaultValue: "false", help: "limit each device's request rate", section: "Devices and auth"),
        .init(name: "RATE_LIMIT_REQUESTS_PER_SECOND", defaultValue: "100", help: "sustained requests per second per device", section: "Devices and auth"),
        .init(name: "RATE_LIMIT_BURST", defaultValue: "", help: "token bucket size per device (default: the per-second rate)", section: "Devices and auth"),
        // Operations
        .init(name: "ADMIN_BIND_ADDRESS", defaultValue: "127.0.0.1", help: "admin API listen address", section: "Operations"),
        .init(name: "ADMIN_BIND_PORT", defaultValue: "8082", help: "admin API listen port", section: "Operations"),
        .init(name: "ADMIN_API_KEY", defaultValue: "", help: "bearer key of the admin API; unset: the admin API does not start", secret: true, section: "Operations"),
        .init(name: "METRICS_BIND_ADDRESS", defaultValue: "0.0.0.0", help: "metrics and health listen address", section: "Operations"),
        .init(name: "METRICS_PORT", defaultValue: "9090", help: "Prometheus /metrics, /health and /ready port (0: any free port, logged)", section: "Operations"),
        .init(name: "LOG_LEVEL", defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical", section: "Operations"),
        .init(name: "LOG_FORMAT", defaultValue: "json", help: "json (one object per line) or text", section: "Operations"),
    ]

    static func named(_ name: String) -> ConfigurationVariable? {
        all.first { $0.name == name }
    }

    /// The text of `.env.example`.
    static func envExample() -> String {
        var lines = [
            "# tb-gateway configuration. Copy to .env and edit; the environment wins over .env.",
            "# Generated by `tb-gateway config env-example`; every variable with its default.",
        ]
        var section = ""
        for variable in all {
            if variable.section != section {
                section = variable.section
                lines.append("")
                lines.append("# --- \(section) ---")
            }
            lines.append("# \(variable.help)")
            lines.append("\(variable.name)=\(variable.defaultValue)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
