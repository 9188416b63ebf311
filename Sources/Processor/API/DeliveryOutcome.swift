import NIOCore

/// Why a message was not delivered. The raw values are the `reason` label of
/// `tb_gateway_messages_dropped_total`; the set is closed so the label stays bounded.
package enum DropReason: String, Sendable, CaseIterable, Error {
    /// The processor's bounded queue was full (back-pressure).
    case queueFull = "queue_full"
    /// The sink did not accept the message within its bound.
    case sinkTimeout = "sink_timeout"
    /// The sink refused the message (a Kafka delivery error, a 4xx from the backend).
    case sinkError = "sink_error"
    case payloadTooLarge = "payload_too_large"
    case invalidPayload = "invalid_payload"
    case rateLimited = "rate_limited"
    /// The gateway is shutting down and takes no new work.
    case shuttingDown = "shutting_down"
    /// A message the MQTT bridge received on a topic no route matches.
    case unrouted
    /// The gateway's answer to a request cannot be encoded or is larger
    /// than the device accepts (an MQTT reply topic past 65,535 bytes, a
    /// packet past the client's Maximum Packet Size).
    case answerTooLarge = "answer_too_large"
    /// A per-connection or per-device cap was reached (MQTT subscriptions,
    /// client attributes; the devices the MQTT bridge may create); the
    /// device was told where its protocol has a way to.
    case quotaExceeded = "quota_exceeded"
    /// An MQTT device that reads nothing while more than a megabyte of
    /// downlink waits for it: closed.
    case slowConsumer = "slow_consumer"
    /// A bridged topic naming a device its route's allow-list does not take.
    case notAllowed = "not_allowed"
}

/// The sink's verdict on one message.
package enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case failed(DropReason)
}

/// Receives the sink's verdict for one message. Fulfilled exactly once, on
/// whatever thread the sink learns the verdict (librdkafka's delivery-report
/// thread, an HTTP client event loop, the processor on a time-out).
package protocol DeliveryCompletion: Sendable {
    func complete(_ outcome: DeliveryOutcome)

    /// The event loop the answer is written on, if any. A sink that learns
    /// many verdicts at once (Kafka's delivery reports) hands each loop its
    /// whole list in one `execute` instead of one hop per message
    /// (architecture.md, hot path step 4).
    var eventLoop: (any EventLoop)? { get }

    /// Called on `eventLoop` by such a sink, instead of `complete`.
    func completeOnEventLoop(_ outcome: DeliveryOutcome)

    /// Whether someone waits for the verdict. The processor fails a message
    /// that waited longer than BATCH_TIMEOUT so its device gets an answer in
    /// time; a message nobody waits on is sent late rather than lost.
    var awaitsAnswer: Bool { get }
}

extension DeliveryCompletion {
    package var eventLoop: (any EventLoop)? { nil }
    package func completeOnEventLoop(_ outcome: DeliveryOutcome) { complete(outcome) }
    package var awaitsAnswer: Bool { true }
}

/// For messages nobody waits on (MQTT QoS 0, connectivity events): the
/// verdict is counted by the sink and otherwise dropped.
package final class UnacknowledgedCompletion: DeliveryCompletion {
    package static let shared = UnacknowledgedCompletion()
    package func complete(_ outcome: DeliveryOutcome) {}
    package var awaitsAnswer: Bool { false }
}
