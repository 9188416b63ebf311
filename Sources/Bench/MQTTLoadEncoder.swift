import MQTTCodec
import NIOCore

/// What `bench mqtt` writes: a packet to encode, or PUBLISH packets the
/// connection already encoded (a burst of them in one buffer).
enum MQTTLoadWrite {
    case packet(MQTTPacket)
    case encoded(ByteBuffer)
}

/// The load generator's outbound MQTT encoder: packets are encoded as the
/// gateway's codec writes them; encoded bursts pass through untouched, so a
/// burst of 64 QoS 0 PUBLISHes is one buffer and one write, not 64 packets
/// each with a payload buffer, a body buffer and an output buffer.
final class MQTTLoadEncoder: ChannelOutboundHandler {
    typealias OutboundIn = MQTTLoadWrite
    typealias OutboundOut = ByteBuffer

    private let version: MQTTProtocolVersion

    init(version: MQTTProtocolVersion) {
        self.version = version
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .encoded(let bytes):
            context.write(wrapOutboundOut(bytes), promise: promise)
        case .packet(let packet):
            var buffer = context.channel.allocator.buffer(capacity: 32)
            do {
                try packet.write(to: &buffer, version: version)
                context.write(wrapOutboundOut(buffer), promise: promise)
            } catch {
                promise?.fail(error)
                context.fireErrorCaught(error)
            }
        }
    }
}
