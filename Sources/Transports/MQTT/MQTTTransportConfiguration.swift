/// The MQTT server's settings.
package struct MQTTTransportConfiguration: Sendable {
    /// MQTT_BIND_ADDRESS and MQTT_BIND_PORT (0: any free port, logged).
    package var host: String
    package var port: Int
    /// MQTT_MAX_CONNECTIONS: connections past CONNECT; CONNACK 3 / 0x88 past
    /// it. Sockets that have not sent CONNECT do not count here.
    package var maxConnections: Int
    /// MQTT_MAX_PENDING_CONNECTIONS: sockets that have not sent CONNECT yet;
    /// past it a new socket is closed at once.
    package var maxPendingConnections: Int
    /// MQTT_MAX_PENDING_PER_ADDRESS: of those, how many one IP address holds.
    package var maxPendingPerAddress: Int
    /// MQTT_CONNECT_TIMEOUT: a socket without CONNECT is closed after this
    /// (MQTT-3.1.4: the server may close a connection that does not CONNECT).
    package var connectTimeout: Duration
    /// MQTT_MAX_SUBSCRIPTIONS: topic filters one connection may hold.
    package var maxSubscriptions: Int
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
        maxPendingConnections: Int = 10_000,
        maxPendingPerAddress: Int = 1_000,
        connectTimeout: Duration = .seconds(10),
        maxSubscriptions: Int = 32,
        maxPayloadSize: Int = 65_536,
        receiveMaximum: Int = 100,
        topicAliasMaximum: Int = 16,
        tls: MQTTTLSConfiguration? = nil
    ) {
        self.tls = tls
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
        self.maxPendingConnections = maxPendingConnections
        self.maxPendingPerAddress = maxPendingPerAddress
        self.connectTimeout = connectTimeout
        self.maxSubscriptions = maxSubscriptions
        self.maxPayloadSize = maxPayloadSize
        self.receiveMaximum = receiveMaximum
        self.topicAliasMaximum = topicAliasMaximum
    }

    /// The largest packet accepted: the payload limit plus room for the
    /// topic, properties and headers.
    package var maximumPacketSize: Int { maxPayloadSize + 4096 }
}
