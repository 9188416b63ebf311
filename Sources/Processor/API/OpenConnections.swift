import NIOCore
import Synchronization

/// The open connections of one server, each reachable on its own event
/// loop: what a transport walks through at shutdown.
package final class OpenConnections<Handler>: Sendable {
    private let connections = Mutex<[ObjectIdentifier: NIOLoopBound<Handler>]>([:])

    package init() {}

    /// Tracks `handler` until `channel` closes.
    package func track(_ channel: any Channel, _ handler: Handler) {
        let identifier = ObjectIdentifier(channel)
        connections.withLock { $0[identifier] = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
        channel.closeFuture.whenComplete { [self] _ in
            _ = connections.withLock { $0.removeValue(forKey: identifier) }
        }
    }

    package var all: [NIOLoopBound<Handler>] { connections.withLock { Array($0.values) } }
}
