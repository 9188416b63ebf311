import NIOCore
import NIOHTTP1
import ProcessorAPI

/// An answer of the HTTP device API.
struct DeviceHTTPResponse: Sendable {
    var status: HTTPResponseStatus
    var body: String
    var retryAfter = false

    static let ok = DeviceHTTPResponse(status: .ok, body: "")

    static func json(_ status: HTTPResponseStatus, _ body: String) -> DeviceHTTPResponse {
        DeviceHTTPResponse(status: status, body: body)
    }

    /// `{"error":"…"}`.
    static func error(_ status: HTTPResponseStatus, _ message: String, retryAfter: Bool = false) -> DeviceHTTPResponse {
        DeviceHTTPResponse(status: status, body: #"{"error":"# + JSONEscaping.quoted(message) + "}", retryAfter: retryAfter)
    }

    static let unauthorized = error(.unauthorized, "unknown, disabled or malformed access token")
    static let notFound = error(.notFound, "no such resource")
    static let methodNotAllowed = error(.methodNotAllowed, "method not allowed")
    static let registryUnavailable = error(.serviceUnavailable, "device registry unavailable", retryAfter: true)

    static func tooLarge(_ limit: Int) -> DeviceHTTPResponse {
        error(.payloadTooLarge, "payload is larger than MAX_PAYLOAD_SIZE (\(limit) bytes)")
    }

    static let rateLimited = error(.tooManyRequests, "rate limit exceeded", retryAfter: true)

    /// 503 with Retry-After, for refusals a device should retry.
    static func unavailable(_ reason: DropReason) -> DeviceHTTPResponse {
        let message: String =
            switch reason {
            case .queueFull: "gateway is at capacity, retry later"
            case .sinkTimeout: "the message was not confirmed in time, retry later"
            case .shuttingDown: "gateway is shutting down, retry later"
            default: "the message could not be delivered, retry later"
            }
        return error(.serviceUnavailable, message, retryAfter: true)
    }
}
