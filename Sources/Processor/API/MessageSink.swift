/// Where batches go: Kafka (KafkaSink) or an HTTP backend (HTTPSink).
package protocol MessageSink: Sendable {
    /// The `sink` metric label: `kafka` or `http`.
    var name: String { get }

    /// Takes one batch. Returns when the sink can take the next one; the
    /// batch's completions are fulfilled by the sink, now or later (Kafka's
    /// delivery reports). Never throws: failures go to the completions.
    func send(_ batch: [GatewayMessage]) async

    /// Takes one message on the caller's thread, without suspending or
    /// blocking, when the sink can (Kafka hands records to librdkafka);
    /// false when it cannot now, and the message goes through the queue.
    func sendNow(_ message: GatewayMessage) -> Bool

    /// Whether `sendNow` can ever take a message.
    var takesInline: Bool { get }

    /// Whether the sink can currently reach its destination (for `/ready`).
    func isReachable() async -> Bool

    /// Waits up to `timeout` for every accepted message to be delivered;
    /// fails what is left with `sink_timeout` and returns how many that was.
    func drain(timeout: Duration) async -> Int
}

extension MessageSink {
    package func sendNow(_ message: GatewayMessage) -> Bool { false }
    package var takesInline: Bool { false }
}
