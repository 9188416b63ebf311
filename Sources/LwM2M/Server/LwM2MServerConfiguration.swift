import CoAPEndpoint
import Foundation

/// The LwM2M server role's settings.
package struct LwM2MServerConfiguration: Sendable {
    /// LWM2M_BIND_ADDRESS, LWM2M_BIND_PORT (5685) and the CoAP parameters.
    package var endpoint: CoAPEndpointConfiguration
    /// A registration lives for its lifetime plus this after the last
    /// update, so a client that updates just in time is not dropped.
    package var registrationGrace: Duration
    /// LWM2M_REQUEST_TIMEOUT: how long a server-initiated operation (read,
    /// write, …) waits for the device before it is reported as timed out.
    package var requestTimeout: Duration
    /// LwM2M versions a client may register with (Core §6.2.1).
    package var supportedVersions: [String]
    /// LWM2M_QUEUE_AWAKE_TIME: how long a queue-mode client stays reachable
    /// after it last sent something (Core §6.5: at least MAX_TRANSMIT_WAIT,
    /// 93 s); past it operations for it are queued, not sent.
    package var queueAwakeTime: Duration
    /// Attempts of a queued operation before it is FAILED.
    package var queuedAttempts: Int

    package init(
        endpoint: CoAPEndpointConfiguration = CoAPEndpointConfiguration(port: 5685),
        registrationGrace: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(10),
        supportedVersions: [String] = ["1.0", "1.1"],
        queueAwakeTime: Duration = .seconds(93),
        queuedAttempts: Int = 3
    ) {
        self.queueAwakeTime = queueAwakeTime
        self.queuedAttempts = queuedAttempts
        self.endpoint = endpoint
        self.registrationGrace = registrationGrace
        self.requestTimeout = requestTimeout
        self.supportedVersions = supportedVersions
    }
}

/// Per device type: telemetry key names for resource paths, the paths to
/// observe when a device registers and the attributes to write first
/// (like ThingsBoard's LwM2M device profiles). Read from
/// `DATA_DIR/lwm2m-profiles.json`: `{"thermometer":{"keys":{"3303/0/5700":"temperature"},
/// "observe":["/3303/0/5700"],"attributes":{"/3303/0/5700":"pmin=1&pmax=10"}}}`.
package struct LwM2MProfile: Sendable, Codable, Equatable {
    package var keys: [String: String]?
    package var observe: [String]?
    package var attributes: [String: String]?
    /// Shared attribute key → resource path: a change of the attribute is
    /// written to the resource (the downlink router's way to LwM2M devices).
    package var sharedAttributes: [String: String]?

    package init(
        keys: [String: String]? = nil, observe: [String]? = nil, attributes: [String: String]? = nil,
        sharedAttributes: [String: String]? = nil
    ) {
        self.keys = keys
        self.observe = observe
        self.attributes = attributes
        self.sharedAttributes = sharedAttributes
    }

    /// The telemetry key for a resource path: the profile's name, else `3303/0/5700`.
    package func key(for path: LwM2MPath) -> String {
        keys?[path.key] ?? keys?[path.description] ?? path.key
    }
}

package struct LwM2MProfiles: Sendable {
    package var byDeviceType: [String: LwM2MProfile]

    package init(_ byDeviceType: [String: LwM2MProfile] = [:]) {
        self.byDeviceType = byDeviceType
    }

    package static let fileName = "lwm2m-profiles.json"

    /// The profiles file in `directory`, or none when there is no file.
    package static func load(directory: String) throws(LwM2MModelError) -> LwM2MProfiles {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return LwM2MProfiles() }
        do {
            return LwM2MProfiles(try JSONDecoder().decode([String: LwM2MProfile].self, from: data))
        } catch {
            throw LwM2MModelError(file: path, reason: "not a profiles object: \(error)")
        }
    }

    package func profile(deviceType: String) -> LwM2MProfile {
        byDeviceType[deviceType] ?? LwM2MProfile()
    }
}
