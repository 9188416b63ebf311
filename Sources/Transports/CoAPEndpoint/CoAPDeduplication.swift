import CoAPCodec
import NIOCore

/// A message as its sender names it: (peer, message id) (RFC 7252 §4.5).
struct CoAPMessageKey: Hashable {
    /// An IPv4 peer's address, port and the message id in one word (its
    /// `other` is nil); for other peers only the message id.
    private let packed: UInt64
    /// A peer that is not IPv4. SocketAddress keeps an IPv4 address in a
    /// class box, so a key holding it is retained, released and hashed
    /// through the box at every look-up: four times per request.
    private let other: SocketAddress?

    init(peer: SocketAddress, messageId: UInt16) {
        if case .v4(let address) = peer {
            // sockaddr_in: family (2 bytes), port (2), address (4), in network order.
            packed = withUnsafeBytes(of: address.address) { raw in
                UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) << 32
                    | UInt64(raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) << 16
                    | UInt64(messageId)
            }
            other = nil
        } else {
            packed = UInt64(messageId)
            other = peer
        }
    }

    /// The packed word alone for an IPv4 peer: the synthesized hash would
    /// also feed `other`'s absence to the hasher at every look-up.
    func hash(into hasher: inout Hasher) {
        hasher.combine(packed)
        if let other { hasher.combine(other) }
    }
}

/// An exchange as a client names it: (peer, token) (RFC 7252 §5.3.2).
struct CoAPTokenKey: Hashable {
    let peer: SocketAddress
    let token: CoAPToken
}

/// Remembers the message ids of requests for EXCHANGE_LIFETIME (or
/// NON_LIFETIME), so a retransmitted request is not processed twice and
/// gets the same answer again (RFC 7252 §4.5). Entries expire in arrival
/// order, which is also expiry order for one lifetime, so expiry is a walk
/// from the front of a ring buffer; the count is capped.
struct CoAPDeduplication {
    enum Entry {
        /// Received, not answered yet.
        case inProgress
        /// The bytes sent in answer (the piggybacked ACK, the empty ACK of a
        /// separate response, or a NON response), when they are at most 16:
        /// kept in the entry itself, in two words. Most answers are an ACK
        /// with a token of up to 8 bytes and no options or payload, and the
        /// table holds up to `capacity` of them for EXCHANGE_LIFETIME;
        /// keeping the buffer that was sent held two allocations (its
        /// storage object and its bytes) per entry.
        case answeredInline(UInt64, UInt64, count: UInt8)
        /// A longer answer: the buffer that was sent.
        case answered(ByteBuffer)

        init(answer bytes: ByteBuffer) {
            guard bytes.readableBytes <= 16 else {
                self = .answered(bytes)
                return
            }
            var words: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &words) { words in
                bytes.withUnsafeReadableBytes { words.copyMemory(from: $0) }
            }
            self = .answeredInline(words.0, words.1, count: UInt8(bytes.readableBytes))
        }

        /// The answer's bytes, to send again to a duplicate; nil while in progress.
        var answer: ByteBuffer? {
            switch self {
            case .inProgress:
                return nil
            case .answered(let bytes):
                return bytes
            case .answeredInline(let low, let high, let count):
                var buffer = ByteBuffer()
                buffer.reserveCapacity(Int(count))
                withUnsafeBytes(of: (low, high)) { _ = buffer.writeBytes($0.prefix(Int(count))) }
                return buffer
            }
        }
    }

    private var entries: [CoAPMessageKey: (entry: Entry, generation: UInt64)] = [:]
    private var order = CircularBuffer<(key: CoAPMessageKey, generation: UInt64, expires: NIODeadline)>(initialCapacity: 1024)
    private var generation: UInt64 = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// Remembers a new key as in progress and returns nil; a key already
    /// known keeps its entry, which is returned. One hash and probe for a
    /// new key (the table holds up to `capacity` entries, so a probe is
    /// often a cache miss); a duplicate, the rare case, takes a second.
    mutating func firstSight(_ key: CoAPMessageKey, expires: NIODeadline) -> Entry? {
        generation &+= 1
        if let known = entries.updateValue((.inProgress, generation), forKey: key) {
            entries[key] = known
            return known.entry
        }
        order.append((key, generation, expires))
        while entries.count > capacity, !order.isEmpty { removeOldest() }
        return nil
    }

    /// Records the answer, in place; a key that expired meanwhile is left forgotten.
    mutating func answered(_ key: CoAPMessageKey, with bytes: ByteBuffer) {
        entries[key]?.entry = Entry(answer: bytes)
    }

    /// Forgets a key still in progress: the message will be taken as new.
    mutating func forget(_ key: CoAPMessageKey) {
        guard case .inProgress = entries[key]?.entry else { return }
        entries[key] = nil
    }

    mutating func expire(now: NIODeadline) {
        while let first = order.first, first.expires <= now {
            removeOldest()
        }
    }

    private mutating func removeOldest() {
        guard let first = order.popFirst(), let index = entries.index(forKey: first.key) else { return }
        // A key re-used after it was forgotten has a newer generation: keep it.
        if entries.values[index].generation == first.generation { entries.remove(at: index) }
    }
}
