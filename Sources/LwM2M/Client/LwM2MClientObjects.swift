import Foundation
import ProcessorAPI

/// A device exposed upstream: one instance of the object its type maps to.
package struct LwM2MClientInstance: Sendable, Equatable {
    package var deviceId: String
    package var deviceName: String
    package var deviceType: String
    package var object: LwM2MClientObjectType
    package var instanceId: UInt16

    package var path: LwM2MPath { LwM2MPath(object.objectId, instanceId) }
}

/// What the gateway offers the upstream server at one moment: its own
/// Server (1) and Device (3) instances and one instance per enabled device.
/// Security (0) exists but is not readable by a server (Core §E.1) and is
/// not in the registration (Core §6.2.1).
package struct LwM2MClientObjects: Sendable {
    package var devices: [LwM2MClientInstance]
    private var byPath: [LwM2MPath: Int]

    package init(devices: [LwM2MClientInstance]) {
        self.devices = devices.sorted { ($0.object.objectId, $0.instanceId) < ($1.object.objectId, $1.instanceId) }
        var byPath: [LwM2MPath: Int] = [:]
        for (index, device) in self.devices.enumerated() { byPath[device.path] = index }
        self.byPath = byPath
    }

    package static let serverObject: UInt16 = 1
    package static let deviceObject: UInt16 = 3

    package func instance(_ path: LwM2MPath) -> LwM2MClientInstance? {
        guard let instanceId = path.instanceId else { return nil }
        return byPath[LwM2MPath(path.objectId, instanceId)].map { devices[$0] }
    }

    package func instances(object: UInt16) -> [LwM2MClientInstance] {
        devices.filter { $0.object.objectId == object }
    }

    /// The registration payload (Core §6.2.1, CoRE Link Format): object
    /// instances, `</1/0>,</3/0>,</3303/0>,…`, the version of an object
    /// other than 1.0 where the model says so.
    package var links: String {
        var targets = ["</1/0>", "</3/0>"]
        targets += devices.map { "<\($0.path)>" }
        return targets.joined(separator: ",")
    }
}

/// The gateway's own objects: Server (1) and Device (3), instance 0.
package struct LwM2MClientOwnObjects: Sendable {
    package var lifetimeSeconds: Int64
    package var binding: String
    package var endpointName: String
    package var version: String

    /// Server object resources (Core §E.2): Short Server ID, Lifetime,
    /// Notification Storing, Binding; 8 Registration Update Trigger is executable.
    package func server() -> [LwM2MNode] {
        [
            LwM2MNode(LwM2MPath(1, 0, 0), .integer(1)),
            LwM2MNode(LwM2MPath(1, 0, 1), .integer(lifetimeSeconds)),
            // Notification Storing When Disabled or Offline: the latest value of each observation is kept and sent once the server answers again.
            LwM2MNode(LwM2MPath(1, 0, 6), .boolean(true)),
            LwM2MNode(LwM2MPath(1, 0, 7), .string(binding)),
        ]
    }

    /// Device object resources (Core §E.4) describing the gateway.
    package func device(now: Int64) -> [LwM2MNode] {
        [
            LwM2MNode(LwM2MPath(3, 0, 0), .string("tb-gateway")),
            LwM2MNode(LwM2MPath(3, 0, 1), .string("tb-gateway")),
            LwM2MNode(LwM2MPath(3, 0, 2), .string(endpointName)),
            LwM2MNode(LwM2MPath(3, 0, 3), .string(version)),
            LwM2MNode(LwM2MPath(3, 0, 11, 0), .integer(0)),
            LwM2MNode(LwM2MPath(3, 0, 13), .time(now)),
            LwM2MNode(LwM2MPath(3, 0, 16), .string(binding)),
        ]
    }

    package static let serverResources: [(id: UInt16, operations: String)] = [(0, "R"), (1, "RW"), (6, "RW"), (7, "RW"), (8, "E")]
    package static let deviceResources: [(id: UInt16, operations: String)] = [(0, "R"), (1, "R"), (2, "R"), (3, "R"), (11, "R"), (13, "R"), (16, "R")]
}

extension LwM2MClientInstance {
    /// The readable resources of the instance with a value now; a key the
    /// device never sent has none and is left out.
    package func nodes(values: [String: LwM2MLastValues.Value]) -> [LwM2MNode] {
        object.resources.filter(\.isReadable).compactMap { resource in
            value(of: resource, values: values).map { LwM2MNode(LwM2MPath(object.objectId, instanceId, resource.id), $0) }
        }
    }

    package func value(of resource: LwM2MClientResource, values: [String: LwM2MLastValues.Value]) -> LwM2MValue? {
        switch resource.source {
        case .deviceName: return .string(deviceName)
        case .deviceType: return .string(deviceType)
        case .latestValues:
            guard !values.isEmpty else { return nil }
            return .string("{" + values.sorted { $0.key < $1.key }.map { JSONEscaping.quoted($0.key) + ":" + $0.value.json }.joined(separator: ",") + "}")
        case .lastUpdate:
            return values.values.map(\.ts).max().map { .time($0 / 1000) }
        case .key(let key):
            return values[key].flatMap { Self.value(json: $0.json, as: resource.type) }
        case .sharedAttributes, .rpc:
            return nil
        }
    }

    /// A JSON value as the resource's LwM2M type; nil when it is not one
    /// (a string where a number is expected).
    static func value(json: String, as type: LwM2MResourceType) -> LwM2MValue? {
        let text = json.trimmingCharacters(in: .whitespacesAndNewlines)
        let string = text.hasPrefix("\"")
            ? (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) as? String : nil
        let boolean: Bool? = text == "true" ? true : text == "false" ? false : nil
        switch type {
        case .string: return .string(string ?? text)
        case .corelnk: return .corelnk(string ?? text)
        case .boolean:
            if let boolean { return .boolean(boolean) }
            if text == "0" || text == "1" { return .boolean(text == "1") }
            return nil
        case .integer, .unsigned, .time, .float:
            if let string { return LwM2MValue.string(string).converted(to: type) }
            if let integer = Int64(text) { return LwM2MValue.integer(integer).converted(to: type) }
            guard boolean == nil, let number = Double(text), number.isFinite else { return nil }
            return LwM2MValue.float(number).converted(to: type)
        case .opaque:
            guard let string, let data = Data(base64Encoded: string) else { return nil }
            return .opaque([UInt8](data))
        case .objlnk:
            return string.flatMap { LwM2MValue.string($0).converted(to: .objlnk) }
        case .none:
            return nil
        }
    }
}
