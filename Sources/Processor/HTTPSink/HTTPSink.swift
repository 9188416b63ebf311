import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import ProcessorAPI

/// Forwards batches to an HTTP backend: one POST per message kind per batch,
/// the body a JSON array of records (the Kafka record format), retried with
/// capped exponential back-off; a 2xx acknowledges every message in it.
package final class HTTPSink: MessageSink {
    package let name = "http"
    private let configuration: HTTPSinkConfiguration
    private let client: HTTPClient
    private let metrics: GatewayMetrics
    private let logger: Logger

    package init(configuration: HTTPSinkConfiguration, metrics: GatewayMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.timeout = .init(
            connect: .seconds(2),
            read: .nanoseconds(Int64(configuration.requestTimeout.components.seconds * 1_000_000_000))
        )
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    package func send(_ batch: [GatewayMessage]) async {
        for kind in MessageKind.allCases {
            let messages = batch.filter { $0.kind == kind }
            guard !messages.isEmpty else { continue }
            let outcome = await post(messages, to: configuration.path(for: kind))
            for message in messages {
                message.completion.complete(outcome)
            }
            switch outcome {
            case .delivered:
                metrics.sent(sink: name, count: messages.count)
                for message in messages { metrics.sinkLatency(sink: name, since: message.enqueuedAt) }
            case .failed(let reason):
                metrics.dropped(reason, count: messages.count)
                metrics.error(.sink)
            }
        }
    }

    /// Encodes the batch body: `[record, record, …]`.
    package static func body(for messages: [GatewayMessage]) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "[")]
        body.reserveCapacity(256 * messages.count)
        var first = true
        for message in messages {
            for entry in message.entries {
                if !first { body.append(UInt8(ascii: ",")) }
                first = false
                RecordEncoder.append(
                    device: message.device,
                    entry: entry,
                    transport: message.transport,
                    receivedAt: message.receivedAt,
                    to: &body
                )
            }
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    private func post(_ messages: [GatewayMessage], to path: String) async -> DeliveryOutcome {
        let body = Self.body(for: messages)
        let deadline = ContinuousClock.now + configuration.deliveryTimeout
        var backoff = configuration.initialBackoff
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: configuration.baseURL + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            if let token = configuration.accessToken, !token.isEmpty {
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            let retry: Bool
            do {
                let response = try await client.execute(request, timeout: configuration.requestTimeout.timeAmount)
                // Read the body so the connection can be reused.
                _ = try? await response.body.collect(upTo: 64 * 1024)
                switch response.status.code {
                case 200..<300:
                    return .delivered
                case 408, 429, 500..<600:
                    retry = true
                    logger.warning(
                        "HTTP backend answered with an error; retrying",
                        metadata: ["status": "\(response.status.code)", "attempt": "\(attempt)"]
                    )
                default:
                    logger.error(
                        "HTTP backend refused a batch",
                        metadata: ["status": "\(response.status.code)", "path": "\(path)"]
                    )
                    return .failed(.sinkError)
                }
            } catch {
                retry = true
                logger.warning("HTTP backend unreachable; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            guard retry, ContinuousClock.now + backoff < deadline else { return .failed(.sinkTimeout) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.maximumBackoff)
        }
    }

    package func isReachable() async -> Bool {
        var request = HTTPClientRequest(url: configuration.baseURL + "/")
        request.method = .GET
        // Any answer, even a 404, means the backend is there.
        return (try? await client.execute(request, timeout: .seconds(2))) != nil
    }

    package func drain(timeout: Duration) async -> Int {
        // The processor awaits each `send`, so nothing is held here between batches.
        0
    }

    package func shutdown() async {
        try? await client.shutdown()
    }
}
