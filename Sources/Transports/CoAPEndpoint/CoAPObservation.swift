import CoAPCodec
import NIOCore

/// One observer of one resource (RFC 7641): the client at `peer` that
/// registered with `token`. The server sends notifications through it; it
/// ends when the client deregisters (GET with Observe=1, §3.6), answers a
/// notification with RST, stops acknowledging CON notifications, or
/// registers again with the same token.
package final class CoAPObservation {
    package enum EndReason: Sendable, Equatable {
        /// GET with Observe=1 or a new registration with the same token.
        case deregistered
        /// RST in answer to a notification (§3.6).
        case reset
        /// A CON notification was not acknowledged after MAX_RETRANSMIT (§4.5).
        case unreachable
        /// The server ended it (`cancel`) or the endpoint closed.
        case cancelled
    }

    package let peer: SocketAddress
    package let token: CoAPToken
    /// The registration request, so notifications can honour its Block2 size.
    package let request: CoAPMessage
    package let eventLoop: any EventLoop
    private weak var endpoint: CoAPEndpointHandler?
    private let onCancel: (EndReason) -> Void
    package private(set) var isActive = false
    /// RFC 7641 §4.4: 24-bit, increasing per notification.
    private var sequence: UInt32 = 1
    var sinceConfirmable = 0

    init(
        peer: SocketAddress,
        token: CoAPToken,
        request: CoAPMessage,
        endpoint: CoAPEndpointHandler,
        eventLoop: any EventLoop,
        onCancel: @escaping (EndReason) -> Void
    ) {
        self.peer = peer
        self.token = token
        self.request = request
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.onCancel = onCancel
    }

    var key: CoAPTokenKey { CoAPTokenKey(peer: peer, token: token) }

    func nextSequence() -> UInt32 {
        defer { sequence = (sequence + 1) & 0xFF_FFFF }
        return sequence
    }

    /// Sends a notification with the resource's new state. `confirmable`
    /// nil lets the endpoint choose (mostly NON, a CON now and then).
    /// `delivered` runs when the client ACKs a CON notification, or once a
    /// NON one is written (it has no acknowledgement, RFC 7252 §4.3).
    /// On the event loop.
    package func notify(_ response: CoAPResponse, confirmable: Bool? = nil, delivered: (@Sendable () -> Void)? = nil) {
        eventLoop.preconditionInEventLoop()
        guard isActive, let endpoint else { return }
        endpoint.sendNotification(self, response, confirmable: confirmable, delivered: delivered)
    }

    /// Ends the observation from the server's side.
    package func cancel() {
        eventLoop.preconditionInEventLoop()
        endpoint?.endObservation(self, .cancelled)
    }

    /// Takes up again an observation that ended because its observer did
    /// not acknowledge a CON notification (`unreachable`), once the
    /// application knows the observer is back: an LwM2M client whose server
    /// kept its registration (Core §6.4: notifications are stored while the
    /// server is offline and sent when it is back). Notifications continue
    /// with the same token and the next sequence number. False when the
    /// observation is active, its endpoint closed, or its token was taken
    /// by a newer registration meanwhile.
    package func resume() -> Bool {
        eventLoop.preconditionInEventLoop()
        guard !isActive, let endpoint else { return false }
        return endpoint.resumeObservation(self)
    }

    func activate() { isActive = true }

    /// Called once by the endpoint when the observation ends.
    func ended(_ reason: EndReason) {
        guard isActive else { return }
        isActive = false
        onCancel(reason)
    }
}
