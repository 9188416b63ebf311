import Hummingbird
import Logging
import NIOCore

/// The request context of the device API: the connection's event loop (acks
/// and their time-outs are scheduled there) and the peer's address (logged
/// on auth failures instead of the token).
package struct DeviceRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let eventLoop: any EventLoop
    private let peer: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.eventLoop = source.channel.eventLoop
        self.peer = source.channel.remoteAddress
    }

    /// Formatted only when needed (auth failures), not per request.
    package var remoteAddress: String { peer?.description ?? "unknown" }
}
