import NIOCore

/// Frames MQTT packets out of a TCP stream's reads, for a handler that
/// decodes them itself (the server's connections) instead of through
/// `ByteToMessageHandler`.
///
/// Complete packets are read straight from each read's buffer. Only a
/// packet split between two reads is copied, and only its own bytes:
/// `ByteToMessageHandler` copies every read into its accumulation buffer
/// whenever a partial packet is left over, which under a QoS 0 flood is
/// nearly every read (its `memmove` was the event loops' largest single
/// cost), and then boxes every packet in `NIOAny` for the next handler.
package struct MQTTPacketFramer {
    /// The protocol level, learned from CONNECT.
    package private(set) var version: MQTTProtocolVersion?
    private let maximumPacketSize: Int
    /// The start of a packet whose end has not arrived yet.
    private var partial: ByteBuffer?
    /// A throw left the stream unframeable: nothing more is read from it.
    private var failed = false

    package init(maximumPacketSize: Int, version: MQTTProtocolVersion? = nil) {
        self.maximumPacketSize = maximumPacketSize
        self.version = version
    }

    /// Bytes held for a packet split between reads.
    package var heldBytes: Int { partial?.readableBytes ?? 0 }

    /// The next complete packet, taking bytes from `buffer`; nil once
    /// `buffer` is used up (a partial packet at its end is kept for the
    /// next read). After a throw the stream cannot be framed any further,
    /// and every later call returns nil.
    package mutating func next(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        guard !failed else { return nil }
        do throws(MQTTCodecError) {
            return try frame(from: &buffer)
        } catch {
            failed = true
            throw error
        }
    }

    private mutating func frame(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        let packet: MQTTPacket?
        if var held = partial {
            partial = nil
            packet = try complete(&held, from: &buffer)
            if packet == nil { partial = held }
        } else {
            packet = try MQTTPacket.read(from: &buffer, version: version, maximumPacketSize: maximumPacketSize)
            if packet == nil, buffer.readableBytes > 0 {
                // Checks the size first: an oversize packet is refused now, not held.
                let frame = try MQTTPacket.frame(in: buffer, version: version, maximumPacketSize: maximumPacketSize)
                // Reserves what arrived, not what the header announces: five
                // bytes from a stranger must not reserve a whole maximum-size
                // packet (10,000 such sockets held 680 MB); the buffer grows
                // as the rest comes in.
                let announced = frame?.total ?? 8
                var held = ByteBufferAllocator().buffer(capacity: min(announced, max(buffer.readableBytes, 1024)))
                held.writeBuffer(&buffer)
                partial = held
            }
        }
        if let packet { try MQTTPacket.learnVersion(from: packet, into: &version) }
        return packet
    }

    /// Moves bytes from `buffer` into the held packet until it is complete
    /// (a byte at a time while its Remaining Length is still incomplete).
    private func complete(_ held: inout ByteBuffer, from buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        while true {
            let frame = try MQTTPacket.frame(in: held, version: version, maximumPacketSize: maximumPacketSize)
            let missing = frame.map { $0.total - held.readableBytes } ?? 1
            if missing > 0 {
                guard buffer.readableBytes > 0 else { return nil }
                var bytes = buffer.readSlice(length: min(missing, buffer.readableBytes))!
                held.writeBuffer(&bytes)
                continue
            }
            return try MQTTPacket.read(from: &held, version: version, maximumPacketSize: maximumPacketSize)
        }
    }
}
