import Hummingbird
import NIOCore

/// The admin API's request context: Hummingbird's basic one plus the
/// client's address, which wrong keys are counted by.
struct AdminRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
