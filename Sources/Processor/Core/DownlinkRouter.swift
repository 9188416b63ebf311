import Foundation
import Logging
import NIOCore
import ProcessorAPI

/// Routes commands from the Kafka command topic (docs/kafka-records.md,
/// "Commands") to the device's live sessions through DeviceSessions, the
/// one way downlink reaches a device:
/// `{"deviceId","type":"attributes","shared":{…}}`,
/// `{"deviceId","type":"rpc","id"?,"method","params"?}`,
/// `{"deviceId","type":"rpc_response","id","response"}`.
/// A record that is not a valid command is logged, counted as
/// `tb_gateway_errors_total{kind="command_invalid"}` and skipped.
package final class DownlinkRouter: Sendable {
    /// What the router did with one record.
    package enum Outcome: Equatable, Sendable {
        case delivered(sessions: Int)
        case invalid(String)
        /// An RPC or RPC answer older than its time-out: nobody waits for it any more.
        case stale(String)
    }

    private let sessions: DeviceSessions
    /// Stores shared attributes in the registry before they are pushed.
    private let storeShared: @Sendable (String, [(key: String, json: String)]) async throws -> Void
    private let metrics: GatewayMetrics
    private let logger: Logger

    package init(
        sessions: DeviceSessions,
        storeShared: @escaping @Sendable (String, [(key: String, json: String)]) async throws -> Void,
        metrics: GatewayMetrics,
        logger: Logger
    ) {
        self.sessions = sessions
        self.storeShared = storeShared
        self.metrics = metrics
        self.logger = logger
    }

    @discardableResult
    package func route(_ value: [UInt8], timestamp: Int64? = nil) async -> Outcome {
        let age = timestamp.map { max(0, EpochClock.nowMilliseconds() - $0) } ?? 0
        let outcome = await routeCommand(value, age: age)
        if case .stale(let reason) = outcome {
            logger.info("stale command skipped", metadata: ["reason": "\(reason)"])
        }
        if case .invalid(let reason) = outcome {
            metrics.error(.commandInvalid)
            logger.warning("command record skipped", metadata: ["reason": "\(reason)", "record": "\(String(decoding: value.prefix(200), as: UTF8.self))"])
        }
        return outcome
    }

    private func routeCommand(_ value: [UInt8], age: Int64) async -> Outcome {
        // The record is one JSON object; each field keeps its own JSON text.
        guard let fields = try? ThingsBoardPayload.parseAttributes(ByteBuffer(bytes: value), receivedAt: 0).values else {
            return .invalid("not a JSON object")
        }
        func field(_ name: String) -> String? { fields.first { $0.key == name }?.json }
        func string(_ name: String) -> String? {
            field(name).flatMap { try? JSONDecoder().decode(String.self, from: Data($0.utf8)) }
        }
        guard let deviceId = string("deviceId"), !deviceId.isEmpty else { return .invalid("deviceId must be a string") }
        switch string("type") {
        case "attributes":
            guard let shared = field("shared"),
                let update = try? ThingsBoardPayload.parseAttributes(ByteBuffer(string: shared), receivedAt: 0), !update.values.isEmpty
            else { return .invalid("shared must be a non-empty JSON object") }
            do {
                try await storeShared(deviceId, update.values)
            } catch {
                return .invalid("shared attributes not stored: \(error)")
            }
            return .delivered(sessions: sessions.deliver(.sharedAttributesUpdated(json: shared), to: deviceId))
        case "rpc":
            guard let method = string("method"), !method.isEmpty else { return .invalid("method must be a non-empty string") }
            var id = sessions.nextRPCIdentifier()
            if let text = field("id") {
                guard let given = Int(text), given > 0 else { return .invalid("id must be a positive integer") }
                id = given
            }
            let timeout = field("timeout").flatMap { Int64($0) } ?? 10_000
            guard age <= timeout else { return .stale("rpc \(method) is \(age) ms old, its timeout is \(timeout) ms") }
            let message = DownlinkMessage.rpcRequest(id: id, method: method, params: field("params") ?? "{}")
            return .delivered(sessions: sessions.deliver(message, to: deviceId))
        case "rpc_response":
            guard let raw = field("id"), let response = field("response") else { return .invalid("rpc_response needs id and response") }
            let id = (try? JSONDecoder().decode(String.self, from: Data(raw.utf8))) ?? raw
            guard !id.isEmpty, !id.contains("/"), !id.contains("+"), !id.contains("#") else { return .invalid("id is not usable in a topic") }
            guard age <= 60_000 else { return .stale("rpc_response \(id) is \(age) ms old") }
            return .delivered(sessions: sessions.deliver(.rpcResponse(id: id, payload: response), to: deviceId))
        case let other:
            return .invalid("unknown type \(other.map { "'\($0)'" } ?? "(missing)")")
        }
    }
}
