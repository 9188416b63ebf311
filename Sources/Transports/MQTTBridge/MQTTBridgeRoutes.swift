import Foundation
import ProcessorAPI

/// A topic template: `sensors/{device}/rpc/response/{id}`. Each level is a
/// literal, `{device}` (the device name in the registry), `{id}` (an RPC
/// request id) or `+` (any one level).
package struct MQTTBridgeTopicTemplate: Sendable, Equatable, CustomStringConvertible {
    enum Level: Sendable, Equatable {
        case literal(String)
        case device
        case id
        case any
    }

    let levels: [Level]
    package let description: String

    package init?(_ text: String) {
        guard !text.isEmpty, !text.hasPrefix("$") else { return nil }
        var levels: [Level] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            switch part {
            case "{device}": levels.append(.device)
            case "{id}": levels.append(.id)
            case "+": levels.append(.any)
            default:
                guard !part.contains("#"), !part.contains("+"), !part.contains("{"), !part.contains("}") else { return nil }
                levels.append(.literal(String(part)))
            }
        }
        self.levels = levels
        description = text
    }

    var hasDevice: Bool { levels.contains(.device) }
    var hasId: Bool { levels.contains(.id) }

    /// The subscription filter: placeholders become `+`.
    package var filter: String {
        levels.map { level in
            if case .literal(let text) = level { return text }
            return "+"
        }.joined(separator: "/")
    }

    /// The device name and id a topic carries, if it fits the template.
    package func match(_ topic: String) -> (device: String, id: String?)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == levels.count else { return nil }
        var device: String?
        var id: String?
        for (part, level) in zip(parts, levels) {
            switch level {
            case .literal(let text): guard part == text else { return nil }
            case .device:
                guard !part.isEmpty else { return nil }
                device = String(part)
            case .id:
                guard !part.isEmpty else { return nil }
                id = String(part)
            case .any: continue
            }
        }
        return device.map { ($0, id) }
    }

    /// The topic for a device (and an RPC id): a name with `/`, `+` or `#`
    /// cannot be one level of a topic, so it gets none.
    package func topic(device: String, id: String? = nil) -> String? {
        guard !device.isEmpty, !device.contains(where: { "/+#".contains($0) }) else { return nil }
        var parts: [String] = []
        for level in levels {
            switch level {
            case .literal(let text): parts.append(text)
            case .device: parts.append(device)
            case .id:
                guard let id else { return nil }
                parts.append(id)
            case .any: return nil
            }
        }
        return parts.joined(separator: "/")
    }
}

/// MQTT_BRIDGE_ROUTES: which broker topics carry what, and where downlink goes.
package struct MQTTBridgeRoutes: Sendable, Equatable {
    package struct Uplink: Sendable, Equatable {
        package var template: MQTTBridgeTopicTemplate
        /// telemetry, attributes or rpc_response.
        package var kind: MessageKind
        /// `"devices"`: the names this route takes (`pump-*` is a prefix);
        /// nil takes any. Anyone who can publish to the broker chooses the
        /// name in the topic, so this is what stops a topic from speaking
        /// for a device the route was not meant for (docs/mqtt-bridge.md).
        package var devices: [String]?
        /// `"deviceTypes"`: the registry types this route takes; nil takes any.
        package var deviceTypes: Set<String>?

        package init(template: MQTTBridgeTopicTemplate, kind: MessageKind, devices: [String]? = nil, deviceTypes: Set<String>? = nil) {
            self.template = template
            self.kind = kind
            self.devices = devices
            self.deviceTypes = deviceTypes
        }

        /// Whether the route's `"devices"` list has this name.
        package func allows(name: String) -> Bool {
            guard let devices else { return true }
            return devices.contains { pattern in
                pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
            }
        }

        /// Whether the route's `"deviceTypes"` has this type.
        package func allows(type: String) -> Bool {
            deviceTypes?.contains(type) ?? true
        }
    }

    package var uplink: [Uplink]
    /// Shared-attribute updates for a device are published here.
    package var attributes: MQTTBridgeTopicTemplate?
    /// Server-side RPC requests (`{id}` required).
    package var rpcRequest: MQTTBridgeTopicTemplate?
    /// What the bridge subscribes to: the uplink filters, or wider filters
    /// from the file (a message no route matches is then counted as unrouted).
    package var subscriptions: [String]

    /// The issue's example layout: `sensors/{device}/telemetry`, `…/attributes`,
    /// `…/rpc/response/{id}`; downlink on `…/attributes/set` and `…/rpc/request/{id}`.
    package static let `default` = MQTTBridgeRoutes(
        uplink: [
            Uplink(template: MQTTBridgeTopicTemplate("sensors/{device}/telemetry")!, kind: .telemetry),
            Uplink(template: MQTTBridgeTopicTemplate("sensors/{device}/attributes")!, kind: .attributes),
            Uplink(template: MQTTBridgeTopicTemplate("sensors/{device}/rpc/response/{id}")!, kind: .rpcResponse),
        ],
        attributes: MQTTBridgeTopicTemplate("sensors/{device}/attributes/set"),
        rpcRequest: MQTTBridgeTopicTemplate("sensors/{device}/rpc/request/{id}"),
        subscriptions: ["sensors/+/telemetry", "sensors/+/attributes", "sensors/+/rpc/response/+"])

    /// The first route a topic fits.
    package func route(_ topic: String) -> (kind: MessageKind, device: String, id: String?, uplink: Uplink)? {
        for route in uplink {
            if let (device, id) = route.template.match(topic) { return (route.kind, device, id, route) }
        }
        return nil
    }

    private struct File: Decodable {
        struct Route: Decodable {
            var topic: String
            var kind: String
            var devices: [String]?
            var deviceTypes: [String]?
        }
        struct Downlink: Decodable {
            var attributes: String?
            var rpc: String?
        }
        var uplink: [Route]
        var downlink: Downlink?
        var subscriptions: [String]?
    }

    package struct LoadError: Error, CustomStringConvertible {
        package let description: String
    }

    /// `{"uplink":[{"topic":"sensors/{device}/telemetry","kind":"telemetry"},…],
    /// "downlink":{"attributes":"…/{device}/…","rpc":"…/{device}/…/{id}"},
    /// "subscriptions":["sensors/#"]}`; a missing file is the default layout.
    package static func load(path: String) throws(LoadError) -> MQTTBridgeRoutes {
        guard let data = FileManager.default.contents(atPath: path) else { return .default }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw LoadError(description: "\(path): not a routes object: \(error)")
        }
        var uplink: [Uplink] = []
        for route in file.uplink {
            guard let template = MQTTBridgeTopicTemplate(route.topic), template.hasDevice else {
                throw LoadError(description: "\(path): \(route.topic) is not a topic template with {device}")
            }
            let kind: MessageKind
            switch route.kind {
            case "telemetry": kind = .telemetry
            case "attributes": kind = .attributes
            case "rpc_response":
                guard template.hasId else { throw LoadError(description: "\(path): \(route.topic): an rpc_response route needs {id}") }
                kind = .rpcResponse
            default: throw LoadError(description: "\(path): kind \(route.kind) is not telemetry, attributes or rpc_response")
            }
            if let devices = route.devices, devices.isEmpty || devices.contains(where: { $0.isEmpty || $0.dropLast().contains("*") }) {
                throw LoadError(description: "\(path): \(route.topic): devices must be non-empty names, a trailing * for a prefix")
            }
            if let types = route.deviceTypes, types.isEmpty || types.contains("") {
                throw LoadError(description: "\(path): \(route.topic): deviceTypes must be non-empty type names")
            }
            uplink.append(Uplink(template: template, kind: kind, devices: route.devices, deviceTypes: route.deviceTypes.map(Set.init)))
        }
        guard !uplink.isEmpty else { throw LoadError(description: "\(path): no uplink route") }
        func downlink(_ text: String?, needsId: Bool) throws(LoadError) -> MQTTBridgeTopicTemplate? {
            guard let text else { return nil }
            guard let template = MQTTBridgeTopicTemplate(text), template.hasDevice, template.hasId == needsId,
                !template.levels.contains(.any)
            else {
                throw LoadError(description: "\(path): downlink \(text) needs {device}\(needsId ? " and {id}" : " and no {id}"), no wildcards")
            }
            return template
        }
        let subscriptions = file.subscriptions ?? uplink.map(\.template.filter)
        for filter in subscriptions where !MQTTBridgeRoutes.isValidFilter(filter) {
            throw LoadError(description: "\(path): subscription \(filter) is not a topic filter")
        }
        return MQTTBridgeRoutes(
            uplink: uplink, attributes: try downlink(file.downlink?.attributes, needsId: false),
            rpcRequest: try downlink(file.downlink?.rpc, needsId: true), subscriptions: subscriptions)
    }

    /// MQTT 3.1.1 §4.7: `#` only last and alone in its level, `+` alone in its level.
    static func isValidFilter(_ filter: String) -> Bool {
        guard !filter.isEmpty else { return false }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || index != levels.count - 1 { return false }
            if level.contains("+"), level != "+" { return false }
        }
        return true
    }
}
