import ProcessorAPI

/// MQTT_BRIDGE_*: the broker the bridge reads from and how.
package struct MQTTBridgeConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// `mqtts://`: TLS with MQTT_BRIDGE_CA_FILE (and a client certificate).
    package var tls: Bool
    package var clientId: String
    package var username: String?
    package var password: String?
    package var caFile: String?
    package var certificateFile: String?
    package var keyFile: String?
    /// false (the default): the broker keeps the subscriptions and queues
    /// QoS 1 messages while the gateway is away.
    package var cleanSession: Bool
    package var keepAlive: Int
    package var routes: MQTTBridgeRoutes
    /// MQTT_BRIDGE_MAX_IN_HAND: messages the broker counts as delivered
    /// (libmosquitto acknowledges on arrival) that the sink has not taken
    /// yet. At this many the bridge disconnects until they are in; it is
    /// also the most a crash can lose (docs/mqtt-bridge.md).
    package var maxInHand: Int
    /// MQTT_BRIDGE_CREATE_DEVICES: an unknown device name is provisioned on
    /// first sight (type MQTT_BRIDGE_DEVICE_TYPE) instead of refused.
    package var createDevices: Bool
    package var deviceType: String
    /// MQTT_BRIDGE_MAX_CREATED_DEVICES: no device is provisioned once the
    /// registry holds this many of type `deviceType`.
    package var maxCreatedDevices: Int

    package init(
        host: String, port: Int = 1883, tls: Bool = false, clientId: String = "tb-gateway-bridge",
        username: String? = nil, password: String? = nil, caFile: String? = nil, certificateFile: String? = nil,
        keyFile: String? = nil, cleanSession: Bool = false, keepAlive: Int = 30, routes: MQTTBridgeRoutes = .default,
        maxInHand: Int = 256, createDevices: Bool = false, deviceType: String = "default", maxCreatedDevices: Int = 1000
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.clientId = clientId
        self.username = username
        self.password = password
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.cleanSession = cleanSession
        self.keepAlive = keepAlive
        self.routes = routes
        self.maxInHand = maxInHand
        self.createDevices = createDevices
        self.deviceType = deviceType
        self.maxCreatedDevices = maxCreatedDevices
    }

    /// `mqtt://host[:1883]` or `mqtts://host[:8883]`; nil if not one.
    package static func parseURL(_ text: String) -> (host: String, port: Int, tls: Bool)? {
        for (scheme, tls, port) in [("mqtt://", false, 1883), ("mqtts://", true, 8883)] where text.hasPrefix(scheme) {
            return HostPort.parse(text.dropFirst(scheme.count), defaultPort: port).map { ($0.host, $0.port, tls) }
        }
        return nil
    }
}
