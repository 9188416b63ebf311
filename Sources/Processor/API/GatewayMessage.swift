import NIOCore
/// One inbound item, whatever transport it came from (architecture.md,
/// "Message model"). The sink fulfils `completion` once every entry is
/// accepted, or with the first failure.
package struct GatewayMessage: Sendable {
    package let device: DeviceIdentity
    package let kind: MessageKind
    package let transport: TransportKind
    /// Milliseconds since the Unix epoch when the gateway received the message.
    package let receivedAt: Int64
    package let entries: [TelemetryEntry]
    package let completion: any DeliveryCompletion
    /// Set by the processor when the message enters its queue; BATCH_TIMEOUT
    /// counts from here.
    package var enqueuedAt: ContinuousClock.Instant

    package init(
        device: DeviceIdentity,
        kind: MessageKind,
        transport: TransportKind,
        receivedAt: Int64,
        entries: [TelemetryEntry],
        completion: any DeliveryCompletion
    ) {
        self.device = device
        self.kind = kind
        self.transport = transport
        self.receivedAt = receivedAt
        self.entries = entries
        self.completion = completion
        self.enqueuedAt = .now
    }

    /// What the message counts against QUEUE_MAX_BYTES: its entries' value
    /// bytes plus a fixed 128 for the message itself.
    package var queuedBytes: Int {
        var bytes = 128
        for entry in entries { bytes += entry.values.readableBytes }
        return bytes
    }
}
