import CRdKafka
import Foundation
import Logging
import Synchronization

/// One record of the command topic, as the consumer hands it on.
package struct KafkaCommandRecord: Sendable {
    package let key: String?
    package let value: [UInt8]
    package let partition: Int32
    package let offset: Int64
    /// The record's Kafka timestamp, ms since the epoch (nil when it has none).
    package let timestamp: Int64?
}

/// Consumes the command topic (KAFKA_TOPIC_COMMANDS) with librdkafka: each
/// gateway instance in a consumer group of its own (every instance sees
/// every command and acts on the devices it holds). Offsets are committed
/// only after a record was handled, never before (at least once).
package final class KafkaCommandConsumer: @unchecked Sendable {
    // @unchecked: the handle is created in init, used by the poll thread
    // until `close()` stops it, then destroyed; librdkafka handles are thread-safe.
    private let handle: OpaquePointer
    private let running = Atomic<Bool>(true)
    private let stopped = DispatchSemaphore(value: 0)
    private let logger: Logger
    private let handler: @Sendable (KafkaCommandRecord) async -> Void

    package init(
        bootstrapServers: String,
        topic: String,
        groupId: String,
        extraProperties: [String: String] = [:],
        logger: Logger,
        handler: @escaping @Sendable (KafkaCommandRecord) async -> Void
    ) throws(KafkaError) {
        var properties = [
            "bootstrap.servers": bootstrapServers,
            "group.id": groupId,
            "client.id": "tb-gateway-commands",
            "enable.auto.commit": "false",
            // A new group reads what the topic still holds, so no command is lost
            // to a rebalance before the first commit; the router skips stale RPCs by age.
            "auto.offset.reset": "earliest",
            "reconnect.backoff.max.ms": "1000",
            // A cluster that creates topics on use creates the command topic for the first subscriber.
            "allow.auto.create.topics": "true",
        ]
        for (key, value) in extraProperties { properties[key] = value }
        let conf = try makeKafkaConf(properties)
        let handle = try makeKafkaHandle(RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(handle)
        guard let list = rd_kafka_topic_partition_list_new(1) else {
            rd_kafka_destroy(handle)
            throw KafkaError("rd_kafka_topic_partition_list_new failed")
        }
        rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        let result = rd_kafka_subscribe(handle, list)
        rd_kafka_topic_partition_list_destroy(list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError("subscribing to \(topic): \(String(cString: rd_kafka_err2str(result)))")
        }
        self.handle = handle
        self.logger = logger
        self.handler = handler
        logger.info("command consumer started", metadata: ["topic": "\(topic)", "group_id": "\(groupId)"])
        startPollThread(topic: topic)
    }

    private func startPollThread(topic: String) {
        let thread = Thread { [self] in
            var assigned = false
            while running.load(ordering: .relaxed) {
                if !assigned { assigned = reportAssignment(topic: topic) }
                guard let message = rd_kafka_consumer_poll(handle, 100) else { continue }
                handle(message)
                rd_kafka_message_destroy(message)
            }
            stopped.signal()
        }
        thread.name = "kafka-commands"
        thread.start()
    }

    /// Logs once when the group gave this instance its partitions (tests wait for it).
    private func reportAssignment(topic: String) -> Bool {
        var partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &partitions) == RD_KAFKA_RESP_ERR_NO_ERROR, let partitions else { return false }
        defer { rd_kafka_topic_partition_list_destroy(partitions) }
        guard partitions.pointee.cnt > 0 else { return false }
        logger.info("command consumer assigned", metadata: ["topic": "\(topic)", "partitions": "\(partitions.pointee.cnt)"])
        return true
    }

    private func handle(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let error = message.pointee.err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if error != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                logger.warning("command consumer error", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
            }
            return
        }
        let value = message.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.pointee.len)) } ?? []
        let key = message.pointee.key.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: message.pointee.key_len), as: UTF8.self)
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let record = KafkaCommandRecord(
            key: key, value: value, partition: message.pointee.partition, offset: message.pointee.offset,
            timestamp: timestamp >= 0 ? timestamp : nil)
        // The handler may touch the registry: wait for it on this thread, then commit.
        let done = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            await handler(record)
            done.signal()
        }
        done.wait()
        rd_kafka_commit_message(handle, message, 1)
    }

    /// Stops polling, leaves the group and frees the handle.
    package func close() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        stopped.wait()
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }
}
