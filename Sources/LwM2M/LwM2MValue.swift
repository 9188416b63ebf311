import Foundation
import ProcessorAPI

/// The data types of LwM2M resources (Core §C, Appendix C "Data Types").
package enum LwM2MResourceType: String, Sendable, Codable, CaseIterable {
    case string, integer, unsigned, float, boolean, opaque, time, objlnk, corelnk, none
}

/// One resource value. TLV and text/plain carry no type, so a value read
/// without a model stays `.opaque`/`.string` until the model says more.
package enum LwM2MValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int64)
    case unsigned(UInt64)
    case float(Double)
    case boolean(Bool)
    case opaque([UInt8])
    /// Seconds since the Unix epoch.
    case time(Int64)
    case objlnk(objectId: UInt16, instanceId: UInt16)
    case corelnk(String)

    package var description: String { json }

    /// The value as JSON text, as it goes into a telemetry record: numbers
    /// and booleans as such, opaque as base64, object links as `"O:I"`.
    package var json: String {
        switch self {
        case .string(let text), .corelnk(let text): JSONEscaping.quoted(text)
        case .integer(let value): String(value)
        case .unsigned(let value): String(value)
        case .float(let value): Self.number(value)
        case .boolean(let value): value ? "true" : "false"
        case .opaque(let bytes): JSONEscaping.quoted(Data(bytes).base64EncodedString())
        case .time(let value): String(value)
        case .objlnk(let object, let instance): JSONEscaping.quoted("\(object):\(instance)")
        }
    }

    /// A finite double as JSON; integers without a fraction keep one (`21.0`),
    /// NaN and infinities (not JSON) become null.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(format: "%.1f", value) }
        return "\(value)"
    }

    /// The type this value naturally has.
    package var type: LwM2MResourceType {
        switch self {
        case .string: .string
        case .integer: .integer
        case .unsigned: .unsigned
        case .float: .float
        case .boolean: .boolean
        case .opaque: .opaque
        case .time: .time
        case .objlnk: .objlnk
        case .corelnk: .corelnk
        }
    }

    /// Re-reads an untyped or loosely typed value as `type` (TLV bytes,
    /// text, a SenML number that is really an integer); nil when it cannot be.
    package func converted(to type: LwM2MResourceType) -> LwM2MValue? {
        if self.type == type { return self }
        switch (self, type) {
        case (.opaque(let bytes), _): return LwM2MTLV.value(bytes, as: type)
        case (.string(let text), _): return LwM2MPlainText.value(text, as: type)
        case (.float(let value), .integer) where value == value.rounded() && abs(value) < 9.2e18: return .integer(Int64(value))
        case (.float(let value), .unsigned) where value == value.rounded() && value >= 0 && value < 1.8e19: return .unsigned(UInt64(value))
        case (.float(let value), .time) where value == value.rounded() && abs(value) < 9.2e18: return .time(Int64(value))
        case (.integer(let value), .float): return .float(Double(value))
        case (.integer(let value), .time): return .time(value)
        case (.integer(let value), .unsigned) where value >= 0: return .unsigned(UInt64(value))
        case (.unsigned(let value), .integer) where value <= UInt64(Int64.max): return .integer(Int64(value))
        case (.unsigned(let value), .float): return .float(Double(value))
        case (.time(let value), .integer): return .integer(value)
        case (.corelnk(let text), .string): return .string(text)
        default: return nil
        }
    }
}

/// One value at a resource or resource-instance path: what every content
/// format decodes to and encodes from.
package struct LwM2MNode: Sendable, Equatable {
    package var path: LwM2MPath
    package var value: LwM2MValue
    /// SenML/JSON time (seconds since the epoch), when the device sent one.
    package var time: Double?

    package init(_ path: LwM2MPath, _ value: LwM2MValue, time: Double? = nil) {
        self.path = path
        self.value = value
        self.time = time
    }
}

/// Why a payload is not valid in its content format.
package struct LwM2MContentError: Error, Sendable, Equatable, CustomStringConvertible {
    package let format: String
    package let reason: String

    package init(_ format: String, _ reason: String) {
        self.format = format
        self.reason = reason
    }

    package var description: String { "invalid \(format): \(reason)" }
}
