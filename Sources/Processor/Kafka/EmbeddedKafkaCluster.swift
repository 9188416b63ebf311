import CRdKafka

/// An in-process development broker: librdkafka's mock cluster
/// (rdkafka_mock.h), listening on 127.0.0.1 at random ports.
///
/// It keeps at most 5 MiB or 100,000 records per partition and deletes older
/// ones (facts.md), so it is for development and tests, never production.
/// Tests also use it to take brokers down and up.
package final class EmbeddedKafkaCluster: @unchecked Sendable {
    // @unchecked: the two handles are only read after init; librdkafka's
    // handles and mock-cluster calls are thread-safe.
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    package let bootstrapServers: String

    /// Starts `brokers` mock brokers and creates `topics` with `partitions` each.
    package init(brokers: Int32 = 1, topics: [String] = [], partitions: Int32 = 4) throws(KafkaError) {
        let conf = try makeKafkaConf(["log_level": "3"])
        let handle = try makeKafkaHandle(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaError("rd_kafka_mock_cluster_new failed")
        }
        self.handle = handle
        self.cluster = cluster
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        for topic in topics {
            let code = rd_kafka_mock_topic_create(cluster, topic, partitions, min(brokers, 3))
            guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError("creating topic \(topic)", code: code)
            }
        }
    }

    /// What a producer of this cluster sets besides KafkaConfiguration's
    /// properties. librdkafka 2.0.2 with idempotence keeps one
    /// ProduceRequest per partition in flight (it counts messages, not
    /// requests, against the limit of 5), and once a partition's linger has
    /// run out while its request is still out, the broker thread polls its
    /// socket with a zero time-out until the answer comes: a spin that took
    /// a third of a core at 45,000 records/s on two cores, the very cores
    /// the in-process mock broker needs to answer. With one request in
    /// flight per connection a waiting request stays in librdkafka's output
    /// queue, the thread sleeps in poll until the answer, and batches grow
    /// instead (docs/performance.md: QoS 0, QoS 1 and CoAP rose by a sixth
    /// to a quarter, the fixed-rate latency did not rise). Ordering and
    /// idempotence are unchanged. Only for this cluster, whose round trip
    /// is in-process: against a remote cluster the one request would be
    /// shared by every partition of a broker (a request carries one
    /// partition in 2.0.2) and queue them behind its round trip.
    package static let producerProperties = ["max.in.flight.requests.per.connection": "1"]

    package func setBrokerDown(_ broker: Int32 = 1) {
        _ = rd_kafka_mock_broker_set_down(cluster, broker)
    }

    package func setBrokerUp(_ broker: Int32 = 1) {
        _ = rd_kafka_mock_broker_set_up(cluster, broker)
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }
}
