import Auth
import CoAPEndpoint
import CoAPTransport
import Foundation
import HTTPSink
import LwM2M
import HTTPTransport
import KafkaSink
import Logging
import MQTTBridgeTransport
import MQTTTransport
import Processor

/// The whole validated configuration, built once at start-up; each module
/// gets its own part.
struct GatewayConfiguration: Sendable {
    enum LogFormat: String, Sendable { case json, text }

    var logLevel: Logger.Level
    var logFormat: LogFormat
    var dataDirectory: String
    var authCacheTTL: Duration
    /// AUTH_FAILURES_PER_ADDRESS: wrong tokens (or admin keys) one address
    /// may send within a minute before it is refused for the rest of it.
    var authFailuresPerAddress: Int
    /// CLIENT_ATTRIBUTES_MAX_KEYS and _MAX_BYTES.
    var clientAttributeQuota: AttributeQuota
    var rateLimit: (requestsPerSecond: Double, burst: Double)?
    var processor: ProcessorConfiguration
    var kafkaEnabled: Bool
    /// nil: the embedded development broker.
    var kafka: KafkaConfiguration
    var kafkaEmbedded: Bool
    /// KAFKA_COMMANDS_GROUP_ID: this instance's consumer group on the command topic.
    var commandsGroupId: String
    var httpSink: HTTPSinkConfiguration
    var httpEnabled: Bool
    var http: HTTPTransportConfiguration
    var mqttEnabled: Bool
    var mqtt: MQTTTransportConfiguration
    var mqttTLSEnabled: Bool
    var coapEnabled: Bool
    var coap: CoAPTransportConfiguration
    var metricsHost: String
    var metricsPort: Int
    var admin: (host: String, port: Int, apiKey: String?)
    var lwm2mEnabled: Bool
    var lwm2m: LwM2MServerConfiguration
    /// The built-in object models and those of LWM2M_MODELS_DIR.
    var lwm2mModels: LwM2MModelRegistry
    var mqttBridgeEnabled: Bool
    var mqttBridge: MQTTBridgeConfiguration
    var lwm2mClientEnabled: Bool
    var lwm2mClient: LwM2MClientConfiguration
    var lwm2mClientMapping: LwM2MClientMapping

    init(_ source: ConfigurationSource) throws(ConfigurationError) {
        let level = try source.choice("LOG_LEVEL", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        logLevel = Logger.Level(rawValue: level) ?? .info
        logFormat = LogFormat(rawValue: try source.choice("LOG_FORMAT", ["json", "text"])) ?? .json
        dataDirectory = source.string("DATA_DIR")
        authCacheTTL = try source.duration("AUTH_CACHE_TTL", minimum: .zero)
        authFailuresPerAddress = try source.integer("AUTH_FAILURES_PER_ADDRESS", in: 1...1_000_000)
        clientAttributeQuota = AttributeQuota(
            maxKeys: try source.integer("CLIENT_ATTRIBUTES_MAX_KEYS", in: 1...10_000_000),
            maxBytes: try source.integer("CLIENT_ATTRIBUTES_MAX_BYTES", in: 1...(1 << 40)))

        let rps = try source.integer("RATE_LIMIT_REQUESTS_PER_SECOND", in: 1...1_000_000)
        let burst = source.optionalString("RATE_LIMIT_BURST") == nil ? rps : try source.integer("RATE_LIMIT_BURST", in: 1...1_000_000)
        rateLimit = try source.bool("RATE_LIMIT_ENABLED") ? (Double(rps), Double(burst)) : nil

        let batchTimeout = try source.duration("BATCH_TIMEOUT")
        processor = ProcessorConfiguration(
            queueCapacity: try source.integer("QUEUE_CAPACITY", in: 1...10_000_000),
            queueMaxBytes: try source.integer("QUEUE_MAX_BYTES", in: 65_536...(64 << 30)),
            batchSize: try source.integer("BATCH_SIZE", in: 1...100_000),
            batchTimeout: batchTimeout,
            shutdownTimeout: try source.duration("SHUTDOWN_TIMEOUT", minimum: .zero)
        )
        let maxPayload = try source.integer("MAX_PAYLOAD_SIZE", in: 1...(64 * 1024 * 1024))

        kafkaEnabled = try source.bool("KAFKA_ENABLED")
        let bootstrap = source.string("KAFKA_BOOTSTRAP_SERVERS")
        kafkaEmbedded = bootstrap.lowercased() == "embedded"
        if !kafkaEmbedded {
            let valid = bootstrap.split(separator: ",").allSatisfy { server in
                let parts = server.split(separator: ":")
                return parts.count >= 2 && Int(parts.last!).map { (1...65535).contains($0) } == true
            }
            guard valid else {
                throw ConfigurationError(
                    variable: "KAFKA_BOOTSTRAP_SERVERS", value: bootstrap,
                    allowed: "'embedded' or a comma-separated list of host:port")
            }
        }
        let topics = KafkaConfiguration.Topics(
            telemetry: try Self.topic(source, "KAFKA_TOPIC_TELEMETRY"),
            attributes: try Self.topic(source, "KAFKA_TOPIC_ATTRIBUTES"),
            events: try Self.topic(source, "KAFKA_TOPIC_EVENTS"),
            rpc: try Self.topic(source, "KAFKA_TOPIC_RPC"),
            commands: try Self.topic(source, "KAFKA_TOPIC_COMMANDS")
        )
        let group = source.string("KAFKA_COMMANDS_GROUP_ID")
        commandsGroupId = group.isEmpty ? "tb-gateway-" + ProcessInfo.processInfo.hostName : group
        kafka = KafkaConfiguration(
            bootstrapServers: kafkaEmbedded ? "" : bootstrap,
            topics: topics,
            lingerMilliseconds: try source.integer("KAFKA_LINGER_MS", in: 0...900_000),
            compression: try source.choice("KAFKA_COMPRESSION", ["none", "gzip", "snappy", "lz4", "zstd"]),
            deliveryTimeout: try source.duration("KAFKA_DELIVERY_TIMEOUT", minimum: .seconds(1))
        )

        let scheme = try source.choice("TB_PROTOCOL", ["http", "https"])
        let tbHost = try source.host("TB_HOST")
        let tbPort = try source.port("TB_PORT")
        httpSink = HTTPSinkConfiguration(
            baseURL: "\(scheme)://\(tbHost):\(tbPort)",
            telemetryPath: try Self.path(source, "TB_TELEMETRY_PATH"),
            attributesPath: try Self.path(source, "TB_ATTRIBUTES_PATH"),
            accessToken: source.optionalString("GATEWAY_ACCESS_TOKEN"),
            deliveryTimeout: try source.duration("HTTP_SINK_TIMEOUT")
        )

        httpEnabled = try source.bool("HTTP_ENABLED")
        http = HTTPTransportConfiguration(
            host: try source.host("HTTP_BIND_ADDRESS"),
            port: try source.port("HTTP_BIND_PORT"),
            maxPayloadSize: maxPayload,
            ackTimeout: try source.duration("HTTP_ACK_TIMEOUT"),
            maxConnections: try source.integer("HTTP_MAX_CONNECTIONS", in: 1...10_000_000),
            maxConnectionsPerAddress: try source.integer("HTTP_MAX_CONNECTIONS_PER_ADDRESS", in: 1...10_000_000),
            requestTimeout: try source.duration("HTTP_REQUEST_TIMEOUT", minimum: .milliseconds(100)),
            idleTimeout: try source.duration("HTTP_IDLE_TIMEOUT", minimum: .milliseconds(100))
        )
        metricsHost = try source.host("METRICS_BIND_ADDRESS")
        metricsPort = try source.port("METRICS_PORT")
        admin = (try source.host("ADMIN_BIND_ADDRESS"), try source.port("ADMIN_BIND_PORT"), source.optionalString("ADMIN_API_KEY"))

        mqttEnabled = try source.bool("MQTT_ENABLED")
        mqtt = MQTTTransportConfiguration(
            host: try source.host("MQTT_BIND_ADDRESS"),
            port: try source.port("MQTT_BIND_PORT"),
            maxConnections: try source.integer("MQTT_MAX_CONNECTIONS", in: 1...10_000_000),
            maxPendingConnections: try source.integer("MQTT_MAX_PENDING_CONNECTIONS", in: 1...10_000_000),
            maxPendingPerAddress: try source.integer("MQTT_MAX_PENDING_PER_ADDRESS", in: 1...10_000_000),
            connectTimeout: try source.duration("MQTT_CONNECT_TIMEOUT", minimum: .milliseconds(100)),
            maxSubscriptions: try source.integer("MQTT_MAX_SUBSCRIPTIONS", in: 1...1_000),
            maxPayloadSize: maxPayload
        )
        mqttTLSEnabled = try source.bool("MQTT_SSL_ENABLED")
        let tlsPort = try source.port("MQTT_SSL_PORT")
        let tlsFiles = [("MQTT_SSL_CERT_FILE", source.string("MQTT_SSL_CERT_FILE")), ("MQTT_SSL_KEY_FILE", source.string("MQTT_SSL_KEY_FILE"))]
        if try source.bool("MQTT_SSL_ENABLED") {
            for (name, path) in tlsFiles {
                guard !path.isEmpty, FileManager.default.isReadableFile(atPath: path) else {
                    throw ConfigurationError(variable: name, value: path, allowed: "a readable PEM file when MQTT_SSL_ENABLED=true")
                }
            }
        }
        let caFile = source.optionalString("MQTT_SSL_CA_FILE")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ConfigurationError(variable: "MQTT_SSL_CA_FILE", value: caFile, allowed: "a readable PEM file, or unset")
        }
        if mqttTLSEnabled {
            do {
                mqtt.tls = try MQTTTLSConfiguration(
                    port: tlsPort, certificateFile: tlsFiles[0].1, keyFile: tlsFiles[1].1, caFile: caFile)
            } catch {
                throw ConfigurationError(variable: error.variable, value: error.value, allowed: "a usable PEM file: \(error.problem)")
            }
        }
        mqttBridgeEnabled = try source.bool("MQTT_BRIDGE_ENABLED")
        mqttBridge = try Self.bridge(source, dataDirectory: dataDirectory)
        coapEnabled = try source.bool("COAP_ENABLED")
        var endpoint = CoAPEndpointConfiguration(
            host: try source.host("COAP_BIND_ADDRESS"),
            port: try source.port("COAP_BIND_PORT"),
            receiveBufferSize: try source.integer("COAP_RECEIVE_BUFFER_SIZE", in: 65536...(1 << 30))
        )
        endpoint.maxBodySize = maxPayload
        let coapAckTimeout = try source.duration("COAP_ACK_TIMEOUT")
        coap = CoAPTransportConfiguration(
            endpoint: endpoint,
            ackTimeout: coapAckTimeout,
            sessionTimeout: try source.duration("COAP_SESSION_TIMEOUT", minimum: .seconds(1))
        )
        lwm2mEnabled = try source.bool("LWM2M_ENABLED")
        var lwm2mEndpoint = CoAPEndpointConfiguration(
            host: try source.host("LWM2M_BIND_ADDRESS"),
            port: try source.port("LWM2M_BIND_PORT"),
            receiveBufferSize: try source.integer("COAP_RECEIVE_BUFFER_SIZE", in: 65536...(1 << 30))
        )
        lwm2mEndpoint.maxBodySize = maxPayload
        lwm2m = LwM2MServerConfiguration(
            endpoint: lwm2mEndpoint,
            requestTimeout: try source.duration("LWM2M_REQUEST_TIMEOUT", minimum: .milliseconds(100)),
            queueAwakeTime: try source.duration("LWM2M_QUEUE_AWAKE_TIME", minimum: .milliseconds(100))
        )
        let modelsDirectory = source.optionalString("LWM2M_MODELS_DIR")
        if let modelsDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: modelsDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError(variable: "LWM2M_MODELS_DIR", value: modelsDirectory, allowed: "an existing directory, or unset")
            }
        }
        do {
            lwm2mModels = try LwM2MModelRegistry.load(directory: modelsDirectory)
        } catch {
            throw ConfigurationError(
                variable: "LWM2M_MODELS_DIR", value: modelsDirectory ?? "",
                allowed: "object models in the project's JSON or the OMA DDF XML format (\(error))")
        }
        lwm2mClientEnabled = try source.bool("LWM2M_CLIENT_ENABLED")
        let serverURI = source.string("LWM2M_CLIENT_SERVER_URI")
        guard let server = LwM2MClientConfiguration.parseServerURI(serverURI) else {
            throw ConfigurationError(variable: "LWM2M_CLIENT_SERVER_URI", value: serverURI, allowed: "coap://host[:port] (coaps is not built)")
        }
        let endpointName = source.string("LWM2M_CLIENT_ENDPOINT")
        guard !endpointName.isEmpty, endpointName.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && !"&?=/".unicodeScalars.contains($0) }) else {
            throw ConfigurationError(variable: "LWM2M_CLIENT_ENDPOINT", value: endpointName, allowed: "a non-empty name of printable ASCII without & ? = / or spaces")
        }
        let lifetime = try source.duration("LWM2M_CLIENT_LIFETIME", minimum: .seconds(1))
        guard lifetime.components.attoseconds == 0 else {
            throw ConfigurationError(variable: "LWM2M_CLIENT_LIFETIME", value: source.string("LWM2M_CLIENT_LIFETIME"), allowed: "a whole number of seconds")
        }
        lwm2mClient = LwM2MClientConfiguration(
            serverHost: server.host, serverPort: server.port, endpointName: endpointName, lifetime: lifetime,
            binding: try source.choice("LWM2M_CLIENT_BINDING", ["u"]).uppercased(),
            version: try source.choice("LWM2M_CLIENT_VERSION", ["1.1", "1.0"]))
        if let bootstrapURI = source.optionalString("LWM2M_CLIENT_BOOTSTRAP_URI") {
            guard let bootstrap = LwM2MClientConfiguration.parseServerURI(bootstrapURI) else {
                throw ConfigurationError(variable: "LWM2M_CLIENT_BOOTSTRAP_URI", value: bootstrapURI, allowed: "coap://host[:port], or unset")
            }
            (lwm2mClient.bootstrapHost, lwm2mClient.bootstrapPort) = bootstrap
        }
        let mappingFile = source.string("LWM2M_CLIENT_MAPPING")
        guard !mappingFile.isEmpty, !mappingFile.contains("/") else {
            throw ConfigurationError(variable: "LWM2M_CLIENT_MAPPING", value: mappingFile, allowed: "a file name in DATA_DIR")
        }
        do {
            lwm2mClientMapping = try LwM2MClientMapping.load(path: dataDirectory + "/" + mappingFile, models: lwm2mModels)
        } catch {
            throw ConfigurationError(variable: "LWM2M_CLIENT_MAPPING", value: mappingFile, allowed: "a mapping file as docs/lwm2m.md describes (\(error))")
        }
    }

    private static func bridge(_ source: ConfigurationSource, dataDirectory: String) throws(ConfigurationError) -> MQTTBridgeConfiguration {
        let url = source.string("MQTT_BRIDGE_URL")
        guard let broker = MQTTBridgeConfiguration.parseURL(url) else {
            throw ConfigurationError(variable: "MQTT_BRIDGE_URL", value: url, allowed: "mqtt://host[:port] or mqtts://host[:port]")
        }
        let clientId = source.string("MQTT_BRIDGE_CLIENT_ID")
        guard (1...65535).contains(clientId.utf8.count) else {
            throw ConfigurationError(variable: "MQTT_BRIDGE_CLIENT_ID", value: clientId, allowed: "a non-empty client id")
        }
        for name in ["MQTT_BRIDGE_CA_FILE", "MQTT_BRIDGE_CERT_FILE", "MQTT_BRIDGE_KEY_FILE"] {
            if let path = source.optionalString(name), !FileManager.default.isReadableFile(atPath: path) {
                throw ConfigurationError(variable: name, value: path, allowed: "a readable PEM file, or unset")
            }
        }
        if (source.optionalString("MQTT_BRIDGE_CERT_FILE") == nil) != (source.optionalString("MQTT_BRIDGE_KEY_FILE") == nil) {
            throw ConfigurationError(
                variable: "MQTT_BRIDGE_KEY_FILE", value: source.string("MQTT_BRIDGE_KEY_FILE"),
                allowed: "set together with MQTT_BRIDGE_CERT_FILE, or both unset")
        }
        let routesFile = source.string("MQTT_BRIDGE_ROUTES")
        guard !routesFile.isEmpty, !routesFile.contains("/") else {
            throw ConfigurationError(variable: "MQTT_BRIDGE_ROUTES", value: routesFile, allowed: "a file name in DATA_DIR")
        }
        let routes: MQTTBridgeRoutes
        do {
            routes = try MQTTBridgeRoutes.load(path: dataDirectory + "/" + routesFile)
        } catch {
            throw ConfigurationError(variable: "MQTT_BRIDGE_ROUTES", value: routesFile, allowed: "a routes file as docs/mqtt-bridge.md describes (\(error))")
        }
        let deviceType = source.string("MQTT_BRIDGE_DEVICE_TYPE")
        guard !deviceType.isEmpty else {
            throw ConfigurationError(variable: "MQTT_BRIDGE_DEVICE_TYPE", value: deviceType, allowed: "a non-empty device type")
        }
        return MQTTBridgeConfiguration(
            host: broker.host, port: broker.port, tls: broker.tls, clientId: clientId,
            username: source.optionalString("MQTT_BRIDGE_USERNAME"), password: source.optionalString("MQTT_BRIDGE_PASSWORD"),
            caFile: source.optionalString("MQTT_BRIDGE_CA_FILE"), certificateFile: source.optionalString("MQTT_BRIDGE_CERT_FILE"),
            keyFile: source.optionalString("MQTT_BRIDGE_KEY_FILE"), cleanSession: try source.bool("MQTT_BRIDGE_CLEAN_SESSION"),
            routes: routes, maxInHand: try source.integer("MQTT_BRIDGE_MAX_IN_HAND", in: 1...1_000_000),
            createDevices: try source.bool("MQTT_BRIDGE_CREATE_DEVICES"), deviceType: deviceType,
            maxCreatedDevices: try source.integer("MQTT_BRIDGE_MAX_CREATED_DEVICES", in: 0...10_000_000))
    }

    /// Kafka topic names: 1-249 of `a-z A-Z 0-9 . _ -` (Kafka's own rule).
    private static func topic(_ source: ConfigurationSource, _ name: String) throws(ConfigurationError) -> String {
        let value = source.string(name)
        let valid = (1...249).contains(value.count) && value != "." && value != ".."
            && value.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
        guard valid else {
            throw ConfigurationError(variable: name, value: value, allowed: "a Kafka topic name: 1-249 characters of a-z A-Z 0-9 . _ -")
        }
        return value
    }

    private static func path(_ source: ConfigurationSource, _ name: String) throws(ConfigurationError) -> String {
        let value = source.string(name)
        guard value.hasPrefix("/"), !value.contains(" ") else {
            throw ConfigurationError(variable: name, value: value, allowed: "a URL path starting with /")
        }
        return value
    }

    /// `name=value` lines of the effective configuration, secrets masked.
    static func describe(_ source: ConfigurationSource) -> [String] {
        ConfigurationVariables.all.map { variable in
            let value = source.value(variable.name)
            let shown = variable.secret ? (value.isEmpty ? "" : "********") : value
            return "\(variable.name)=\(shown)"
        }
    }
}
