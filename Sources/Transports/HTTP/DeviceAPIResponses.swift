import Hummingbird
import NIOCore
import ProcessorAPI

/// The answers of the device API, in one place.
enum DeviceAPIResponses {
    static func ok() -> Response {
        Response(status: .ok)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// `{"error":"…"}` with the given status.
    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        json(status, #"{"error":"# + JSONEscaping.quoted(message) + "}", headers: headers)
    }

    static func unauthorized() -> Response {
        error(.unauthorized, "unknown, disabled or malformed access token")
    }

    static func tooLarge(_ limit: Int) -> Response {
        error(.contentTooLarge, "payload is larger than MAX_PAYLOAD_SIZE (\(limit) bytes)")
    }

    /// 503 with Retry-After, for refusals a device should retry.
    static func unavailable(_ reason: DropReason) -> Response {
        let message: String =
            switch reason {
            case .queueFull: "gateway is at capacity, retry later"
            case .sinkTimeout: "the message was not confirmed in time, retry later"
            case .shuttingDown: "gateway is shutting down, retry later"
            default: "the message could not be delivered, retry later"
            }
        return error(.serviceUnavailable, message, headers: [.retryAfter: "1"])
    }

    static func rateLimited() -> Response {
        error(.tooManyRequests, "rate limit exceeded", headers: [.retryAfter: "1"])
    }
}
