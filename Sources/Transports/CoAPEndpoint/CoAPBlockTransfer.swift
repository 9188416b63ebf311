import CoAPCodec
import NIOCore

/// A Block1 upload being assembled (RFC 7959 §2.5). Keyed by peer, method
/// and URI, not by token: clients may use a new token for every block.
struct CoAPBlockTransfer {
    struct Key: Hashable {
        let peer: SocketAddress
        let code: CoAPCode
        let uri: String
    }

    var body: ByteBuffer
    var updated: NIODeadline
}

extension CoAPEndpointHandler {
    enum BlockOutcome {
        /// The request is complete (perhaps assembled from blocks): hand it on.
        case complete(CoAPMessage, echo: CoAPBlockOption?)
        /// Already answered (2.31 Continue, 4.08, 4.13).
        case answered
    }

    /// RFC 7959 §2.5: stores a non-final block and answers 2.31 Continue;
    /// on the last block hands on the whole body. Out-of-order blocks get
    /// 4.08 Request Entity Incomplete; a body over `maxBodySize` 4.13 with Size1.
    func assembleBlock1(_ message: CoAPMessage, block: CoAPBlockOption, from peer: SocketAddress) -> BlockOutcome {
        let key = CoAPBlockTransfer.Key(peer: peer, code: message.code, uri: message.uriString)
        let limit = configuration.maxBodySize
        if block.number == 0 {
            endTransfer(key)
            if let announced = message.size1, Int(announced) > limit {
                answerDirectly(message, from: peer, code: .requestEntityTooLarge, size1: limit)
                return .answered
            }
            if !block.more { return .complete(message, echo: block) }
            if let refusal = blockSlots.take(peer.ipAddress ?? "") {
                requestHandler?.blockTransferRefused(from: peer, perAddress: refusal == .perAddress)
                answerDirectly(message, from: peer, code: .serviceUnavailable, maxAge: 5)
                return .answered
            }
            blockTransfers[key] = CoAPBlockTransfer(body: ByteBuffer(), updated: .now())
        }
        guard var transfer = blockTransfers[key], block.offset == transfer.body.readableBytes else {
            answerDirectly(message, from: peer, code: .requestEntityIncomplete)
            return .answered
        }
        guard transfer.body.readableBytes + message.payload.readableBytes <= limit else {
            endTransfer(key)
            answerDirectly(message, from: peer, code: .requestEntityTooLarge, size1: limit)
            return .answered
        }
        var payload = message.payload
        transfer.body.writeBuffer(&payload)
        transfer.updated = .now()
        guard !block.more else {
            blockTransfers[key] = transfer
            var answer = CoAPResponse(code: .continue)
            answer.options.append(block.option(.block1))
            answerDirectly(message, from: peer, response: answer)
            return .answered
        }
        endTransfer(key)
        var whole = message
        whole.setOption(.block1, nil)
        whole.setOption(.size1, nil)
        whole.payload = transfer.body
        return .complete(whole, echo: block)
    }

    /// Forgets a transfer and gives its slot back.
    func endTransfer(_ key: CoAPBlockTransfer.Key) {
        guard blockTransfers.removeValue(forKey: key) != nil else { return }
        blockSlots.give(key.peer.ipAddress ?? "")
    }

    /// Transfers paused past `blockTransferLifetime` (or all, at close).
    func expireTransfers(before deadline: NIODeadline?) {
        for (key, transfer) in blockTransfers where deadline.map({ transfer.updated <= $0 }) ?? true {
            endTransfer(key)
        }
    }

    /// Cuts a response into the requested Block2 block (RFC 7959 §2.4); a
    /// payload over the block size gets block 0 with Size2. Returns false
    /// when the requested block lies past the end.
    func applyBlock2(_ message: inout CoAPMessage, requested: CoAPBlockOption?) -> Bool {
        let preferred = CoAPBlockOption.sizeExponent(forSize: configuration.preferredBlockSize)
        let exponent = min(requested?.sizeExponent ?? preferred, preferred)
        let size = 1 << (Int(exponent) + 4)
        let total = message.payload.readableBytes
        let number = Int(requested?.number ?? 0)
        guard requested != nil || total > size else { return true }
        let offset = number * size
        guard offset < total || (offset == 0 && total == 0) else { return false }
        let length = min(size, total - offset)
        message.payload = message.payload.getSlice(at: message.payload.readerIndex + offset, length: length) ?? ByteBuffer()
        message.block2 = CoAPBlockOption(number: UInt32(number), more: offset + length < total, sizeExponent: exponent)
        if number == 0 { message.size2 = UInt32(total) }
        return true
    }
}
