import CoAPCodec
import NIOCore

/// A device's telemetry POST in `bench coap`, encoded without building a
/// `CoAPMessage` per request: everything but the message id, the token and
/// the payload is the same for every request of a device, so the header,
/// the Uri-Path options and Content-Format are encoded once (RFC 7252 §3)
/// and copied; the id and the token are written into the copy, the payload
/// is rendered after the marker.
struct CoAPLoadRequest {
    /// The encoded request with message id 0, a zero token of `tokenLength`
    /// bytes and no payload.
    private let prefix: [UInt8]
    static let tokenLength: UInt8 = 4

    init(uriPath: [String], contentFormat: UInt32) {
        var message = CoAPMessage(
            type: .confirmable, code: .post, messageId: 0, token: CoAPToken(value: 0, length: Self.tokenLength), payload: ByteBuffer())
        message.setURI(path: uriPath)
        message.contentFormat = contentFormat
        var encoded = message.encoded()
        prefix = encoded.readBytes(length: encoded.readableBytes)!
    }

    /// The datagram: the prefix with `messageId` and `token`, then the
    /// payload marker and `payload` (§3: no marker for an empty payload).
    func datagram(messageId: UInt16, token: UInt32, payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: prefix.count + 1 + payload.count)
        buffer.writeBytes(prefix)
        buffer.setInteger(messageId, at: 2)
        buffer.setInteger(token, at: 4)
        if !payload.isEmpty {
            buffer.writeInteger(UInt8(0xFF))
            buffer.writeBytes(payload)
        }
        return buffer
    }
}
