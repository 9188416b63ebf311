/// Why a device payload was refused; `description` is what the device is told
/// (HTTP 400 body, CoAP 4.00 diagnostic payload, MQTT 5.0 reason string).
package enum PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLarge(limit: Int)
    case invalidJSON(offset: Int, reason: String)
    case notAnObject(String)
    case invalidTimestamp(String)
    case emptyKey(String)
    case noValues(String)

    package var description: String {
        switch self {
        case .empty: "payload is empty"
        case .tooLarge(let limit): "payload is larger than \(limit) bytes"
        case .invalidJSON(let offset, let reason): "invalid JSON at byte \(offset): \(reason)"
        case .notAnObject(let what): "\(what) must be a JSON object"
        case .invalidTimestamp(let what): "\(what): ts must be an integer number of milliseconds"
        case .emptyKey(let what): "\(what): keys must not be empty"
        case .noValues(let what): "\(what) has no values"
        }
    }
}
