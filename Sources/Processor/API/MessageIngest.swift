/// The hand-off from a transport to the processor. `submit` never blocks and
/// never suspends: it either takes the message (and the sink will complete it
/// later) or refuses it at once, so the transport can push back.
package protocol MessageIngest: Sendable {
    func submit(_ message: GatewayMessage) -> IngestResult
    /// `submit` for a caller that keeps a refused message and offers it
    /// again (MQTT holding back, the bridge): a refusal is not a drop, so it
    /// is not counted as one.
    func offer(_ message: GatewayMessage) -> IngestResult
}

extension MessageIngest {
    package func offer(_ message: GatewayMessage) -> IngestResult { submit(message) }
}

package enum IngestResult: Sendable, Equatable {
    case accepted
    /// Not taken; the message's completion is *not* called, the caller answers.
    case refused(DropReason)
}
