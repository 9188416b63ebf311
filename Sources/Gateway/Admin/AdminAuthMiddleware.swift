import Auth
import Hummingbird
import ProcessorAPI

/// Every admin request needs `Authorization: Bearer ADMIN_API_KEY`. An
/// address that sent AUTH_FAILURES_PER_ADDRESS wrong keys within a minute
/// is answered 429 for the rest of that minute, right or wrong key, so the
/// key cannot be guessed at network speed.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let key: [UInt8]
    let failures: AuthFailureThrottle
    let metrics: GatewayMetrics

    init(key: String, failures: AuthFailureThrottle, metrics: GatewayMetrics) {
        self.key = Array(key.utf8)
        self.failures = failures
        self.metrics = metrics
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if failures.isBlocked(address) {
            metrics.connectionRefused("admin", .throttled)
            var response = AdminResponses.error(.tooManyRequests, "too many wrong keys from this address; try again later")
            response.headers[.retryAfter] = "\(failures.window.components.seconds)"
            return response
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            constantTimeEqual(Array(header.dropFirst(7).utf8), key)
        else {
            failures.failed(address)
            var response = AdminResponses.error(.unauthorized, "missing or wrong bearer key")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// Compares without an early exit, so timing does not reveal the key.
    private func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
