import Foundation
import Logging
import NIOCore
import ProcessorAPI

/// A registered LwM2M client as a downlink target: a shared attribute that
/// the device type's profile maps to a resource (`"sharedAttributes":
/// {"targetTemperature":"/3308/0/5900"}`) is written there (replaced), or
/// queued while a queue-mode client sleeps.
struct LwM2MDeviceSession: DeviceSession {
    let server: LwM2MServer
    let deviceId: String
    /// Attribute key → resource path.
    let mapping: [String: String]

    var transport: TransportKind { .lwm2m }

    func carries(_ message: DownlinkMessage) -> Bool {
        if case .sharedAttributesUpdated = message { return true }
        return false
    }

    func deliver(_ message: DownlinkMessage) {
        guard case .sharedAttributesUpdated(let json) = message,
            let update = try? ThingsBoardPayload.parseAttributes(ByteBuffer(string: json), receivedAt: 0)
        else { return }
        let models = server.models
        let logger = server.logger
        let writes: [(LwM2MPath, LwM2MValue)] = update.values.compactMap { key, text in
            guard let target = mapping[key], let path = LwM2MPath(target), path.isResource else { return nil }
            guard let value = Self.value(text, type: models.type(of: path)) else {
                logger.warning("shared attribute does not fit its LwM2M resource", metadata: ["key": "\(key)", "path": "\(path)"])
                return nil
            }
            return (path, value)
        }
        guard !writes.isEmpty else { return }
        let lwm2m = self.server
        let device = self.deviceId
        Task {
            for (path, value) in writes {
                do {
                    let nodes = [LwM2MNode(path, value)]
                    if lwm2m.isSleeping(deviceId: device) {
                        _ = try await lwm2m.enqueue(try .write(path, nodes: nodes, replace: true, format: LwM2MTLV.contentFormat), deviceId: device)
                    } else {
                        try await lwm2m.write(deviceId: device, path: path, nodes: nodes)
                    }
                } catch {
                    lwm2m.logger.warning("shared attribute not written", metadata: ["device_id": "\(device)", "path": "\(path)", "error": "\(error)"])
                }
            }
        }
    }

    /// A JSON value as the resource's type.
    static func value(_ json: String, type: LwM2MResourceType?) -> LwM2MValue? {
        let natural: LwM2MValue
        switch json {
        case "true": natural = .boolean(true)
        case "false": natural = .boolean(false)
        case _ where json.hasPrefix("\""):
            guard let text = try? JSONDecoder().decode(String.self, from: Data(json.utf8)) else { return nil }
            guard let type, type != .string else { return .string(text) }
            return LwM2MPlainText.value(text, as: type)
        default:
            if let integer = Int64(json) { natural = .integer(integer) } else if let number = Double(json) { natural = .float(number) } else { return nil }
        }
        guard let type, type != .none else { return natural }
        return natural.converted(to: type)
    }
}
