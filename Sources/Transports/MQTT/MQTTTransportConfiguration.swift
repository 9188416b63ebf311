/// The MQTT server's settings.
package struct MQTTTransportConfiguration: Sendable {
    /// MQTT_BIND_ADDRESS and MQTT_BIND_PORT (0: any free port, logged).
    package var host: String
    package var port: Int
    /// MQTT_MAX_CONNECTIONS: CONNACK 3 / 0x88 past it.
    package var maxConnections: Int
    /// MAX_PAYLOAD_SIZE: a PUBLISH payload larger than this closes the connection.
    package var maxPayloadSize: Int
    /// QoS 1/2 messages of one connection waiting for the sink; announced as
    /// Receive Maximum on 5.0. Past it the server stops reading the socket.
    package var receiveMaximum: Int
    /// Topic aliases a 5.0 client may set up (Topic Alias Maximum).
    package var topicAliasMaximum: Int
    /// A second listener for MQTT over TLS, when MQTT_SSL_ENABLED.
    package var tls: MQTTTLSConfiguration?

    package init(
        host: String = "0.0.0.0",
        port: Int = 1883,
        maxConnections: Int = 10_000,
        maxPayloadSize: Int = 65_536,
        receiveMaximum: Int = 100,
        topicAliasMaximum: Int = 16,
        tls: MQTTTLSConfiguration? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.maxPayloadSize = maxPayloadSize
        self.receiveMaximum = receiveMaximum
        self.topicAliasMaximum = topicAliasMaximum
    }

    /// The largest packet accepted: the payload limit plus room for the
    /// topic, properties and headers.
    package var maximumPacketSize: Int { maxPayloadSize + 4096 }
}
