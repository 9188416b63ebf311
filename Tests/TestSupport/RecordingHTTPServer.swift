import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server on 127.0.0.1 that records every request and
/// answers from a script of status codes (then 200), after an optional delay:
/// the HTTP backend the HTTP sink is tested against.
package final class RecordingHTTPServer: Sendable {
    package struct Request: Sendable {
        package let method: String
        package let uri: String
        package let headers: [(String, String)]
        package let body: String
        package func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    private struct State {
        var requests: [Request] = []
        var script: [Int] = []
        var delay: TimeAmount = .zero
    }

    private let state = Mutex(State())
    private let channel: any Channel
    package let port: Int

    package init() async throws {
        let box = ServerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(server: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        box.server.withLock { $0 = self }
    }

    package var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The statuses of the next answers, in order; 200 afterwards.
    package func script(_ statuses: [Int], delay: Duration = .zero) {
        let (seconds, attoseconds) = delay.components
        state.withLock {
            $0.script = statuses
            $0.delay = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }

    package var requests: [Request] { state.withLock { $0.requests } }

    fileprivate func record(_ request: Request) -> (status: Int, delay: TimeAmount) {
        state.withLock { state in
            state.requests.append(request)
            let status = state.script.isEmpty ? 200 : state.script.removeFirst()
            return (status, state.delay)
        }
    }

    package func close() async throws {
        try await channel.close()
    }
}

private final class ServerBox: Sendable {
    let server = Mutex<RecordingHTTPServer?>(nil)
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerBox
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(server: ServerBox) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head, let server = server.server.withLock({ $0 }) else { return }
            let request = RecordingHTTPServer.Request(
                method: head.method.rawValue, uri: head.uri,
                headers: head.headers.map { ($0.name, $0.value) }, body: String(buffer: body))
            let (status, delay) = server.record(request)
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: delay) {
                let context = loopBound.value
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "0")
                let responseHead = HTTPResponseHead(
                    version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
                context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            }
        }
    }
}
