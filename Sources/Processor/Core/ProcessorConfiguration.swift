/// The processor's bounds (architecture.md, "Batching without waiting").
package struct ProcessorConfiguration: Sendable {
    /// QUEUE_CAPACITY: messages waiting for the sink before transports push back.
    package var queueCapacity: Int
    /// QUEUE_MAX_BYTES: the bytes of the queued messages' values (plus a
    /// fixed overhead per message), so large payloads cannot fill memory
    /// while the count is still low.
    package var queueMaxBytes: Int
    /// BATCH_SIZE: the most messages handed to the sink in one batch.
    package var batchSize: Int
    /// BATCH_TIMEOUT: the longest a message waits in the queue for a busy sink.
    package var batchTimeout: Duration
    /// SHUTDOWN_TIMEOUT: how long the sink may take to deliver what it holds at shutdown.
    package var shutdownTimeout: Duration

    package init(
        queueCapacity: Int = 100_000,
        queueMaxBytes: Int = 256 * 1024 * 1024,
        batchSize: Int = 100,
        batchTimeout: Duration = .seconds(1),
        shutdownTimeout: Duration = .seconds(10)
    ) {
        self.queueCapacity = queueCapacity
        self.queueMaxBytes = queueMaxBytes
        self.batchSize = batchSize
        self.batchTimeout = batchTimeout
        self.shutdownTimeout = shutdownTimeout
    }
}
