import NIOCore

/// A connection past HTTP_MAX_CONNECTIONS or the per-address cap: answered
/// `503` with `Retry-After` at once (before its request, which is never
/// read) and closed, so the client is told rather than left waiting.
final class HTTPConnectionRefusal: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limit: String

    init(limit: String) {
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        let body = #"{"error":"too many connections (\#(limit))"}"#
        var bytes = context.channel.allocator.buffer(capacity: 160)
        bytes.writeString(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: \(body.utf8.count)\r\ncontent-type: application/json\r\n"
                + "retry-after: 1\r\nconnection: close\r\n\r\n" + body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Tells the device handler that bytes arrived before the decoder has a
/// whole request: the start of HTTP_REQUEST_TIMEOUT for a slow request.
final class HTTPReadObserver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let handler: HTTPDeviceHandler

    init(_ handler: HTTPDeviceHandler) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handler.bytesArrived()
        context.fireChannelRead(data)
    }
}
