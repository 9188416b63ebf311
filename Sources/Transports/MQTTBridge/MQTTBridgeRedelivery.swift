/// Recognises messages the broker sends a second time. libmosquitto drops
/// the PUBACKs still queued when the bridge disconnects to pause, so after
/// the reconnect the broker sends those messages again with the same packet
/// identifier (MQTT 3.1.1 §4.4). The bridge already has them: a message of
/// the new connection with the identifier, topic and payload of one taken
/// in the previous connection is skipped. The broker sends only its
/// in-flight window again, so the last `capacity` messages are enough.
struct MQTTBridgeRedelivery {
    struct Seen: Equatable {
        var topic: String
        var payloadHash: Int
    }

    let capacity: Int
    private var previous: [Int32: Seen] = [:]
    private var current: [Int32: Seen] = [:]
    /// Insertion order of `current`, to forget the oldest.
    private var order: [Int32] = []

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// A new connection: what the last one took may come again.
    mutating func newConnection() {
        previous = current
        current = [:]
        order = []
    }

    /// False for a message sent again. Either way it counts as taken in
    /// this connection: its PUBACK may be dropped once more.
    mutating func isNew(mid: Int32, topic: String, payload: [UInt8]) -> Bool {
        let seen = Seen(topic: topic, payloadHash: payload.hashValue)
        let again = previous[mid] == seen
        if again { previous[mid] = nil }
        if current.updateValue(seen, forKey: mid) == nil {
            order.append(mid)
            if order.count > capacity { current[order.removeFirst()] = nil }
        }
        return !again
    }
}
