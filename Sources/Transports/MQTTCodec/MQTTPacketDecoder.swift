import NIOCore

/// Frames MQTT packets out of a TCP stream. The protocol level is learned
/// from CONNECT; until then only CONNECT is accepted, and a second CONNECT is
/// a protocol violation (MQTT-3.1.0-1/2).
package struct MQTTPacketDecoder: ByteToMessageDecoder {
    package typealias InboundOut = MQTTPacket

    package private(set) var version: MQTTProtocolVersion?
    private let maximumPacketSize: Int

    /// `version` is for a decoder that starts after CONNECT (tests, clients).
    package init(maximumPacketSize: Int, version: MQTTProtocolVersion? = nil) {
        self.maximumPacketSize = maximumPacketSize
        self.version = version
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try MQTTPacket.read(from: &buffer, version: version, maximumPacketSize: maximumPacketSize) else {
            return .needMoreData
        }
        try MQTTPacket.learnVersion(from: packet, into: &version)
        context.fireChannelRead(NIOAny(packet))
        return .continue
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Writes packets at the protocol level the connection agreed on.
package final class MQTTPacketEncoder: MessageToByteEncoder {
    package typealias OutboundIn = MQTTPacket

    package var version: MQTTProtocolVersion

    package init(version: MQTTProtocolVersion = .v311) {
        self.version = version
    }

    package func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try data.write(to: &out, version: version)
    }
}
