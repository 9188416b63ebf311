import ProcessorAPI

/// What the Kafka sink needs from start-up configuration.
package struct KafkaConfiguration: Sendable {
    /// KAFKA_BOOTSTRAP_SERVERS, `host:port[,host:port…]`.
    package var bootstrapServers: String
    /// KAFKA_TOPIC_TELEMETRY, KAFKA_TOPIC_ATTRIBUTES, KAFKA_TOPIC_EVENTS, KAFKA_TOPIC_RPC.
    package var topics: Topics
    /// KAFKA_LINGER_MS.
    package var lingerMilliseconds: Int
    /// KAFKA_COMPRESSION: none, gzip, snappy, lz4 or zstd.
    package var compression: String
    /// KAFKA_DELIVERY_TIMEOUT: librdkafka's message.timeout.ms.
    package var deliveryTimeout: Duration
    /// Further librdkafka properties (tests use these to shorten back-offs).
    package var extraProperties: [String: String]

    package struct Topics: Sendable {
        package var telemetry: String
        package var attributes: String
        package var events: String
        package var rpc: String
        /// KAFKA_TOPIC_COMMANDS: what the backend sends to devices (consumed, not produced).
        package var commands: String

        package init(
            telemetry: String = "tb.telemetry",
            attributes: String = "tb.attributes",
            events: String = "tb.events",
            rpc: String = "tb.rpc",
            commands: String = "tb.commands"
        ) {
            self.telemetry = telemetry
            self.attributes = attributes
            self.events = events
            self.rpc = rpc
            self.commands = commands
        }

        /// The topic of each message kind (architecture.md, "Kafka records").
        package func topic(for kind: MessageKind) -> String {
            switch kind {
            case .telemetry: telemetry
            case .attributes: attributes
            case .connectivity: events
            case .rpcResponse, .clientRPC, .rpcState: rpc
            }
        }

        package var all: [String] { [telemetry, attributes, events, rpc, commands] }
    }

    package init(
        bootstrapServers: String,
        topics: Topics = Topics(),
        lingerMilliseconds: Int = 1,
        compression: String = "none",
        deliveryTimeout: Duration = .seconds(30),
        extraProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
        self.lingerMilliseconds = lingerMilliseconds
        self.compression = compression
        self.deliveryTimeout = deliveryTimeout
        self.extraProperties = extraProperties
    }

    /// The librdkafka producer properties: idempotence on, acks=all
    /// (architecture.md, "Kafka records").
    package var producerProperties: [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": String(lingerMilliseconds),
            "compression.type": compression,
            "message.timeout.ms": String(deliveryTimeout.components.seconds * 1000
                + deliveryTimeout.components.attoseconds / 1_000_000_000_000_000),
            // Reports resume within about a second of a broker coming back
            // instead of the default 10 s (facts.md, "Broker down").
            "reconnect.backoff.max.ms": "1000",
            "client.id": "tb-gateway",
        ]
        for (key, value) in extraProperties { properties[key] = value }
        return properties
    }
}
