import CRdKafka
import Foundation

/// One record as `KafkaTopicReader` returns it.
package struct KafkaTopicRecord: Sendable {
    package let key: String?
    package let value: [UInt8]
    package let partition: Int32
    package let offset: Int64
    /// The record's Kafka timestamp, ms since the epoch (nil when it has none).
    package let timestamp: Int64?
}

/// Reads a whole topic, from the first record each partition keeps to its
/// end as it was when reading began (`tb-gateway bench verify`). Blocking:
/// call it from a command-line thread, never from an event loop.
package enum KafkaTopicReader {
    package static func readAll(bootstrapServers: String, topic: String, timeout: Duration = .seconds(30)) throws(KafkaError) -> [KafkaTopicRecord] {
        let conf = try makeKafkaConf([
            "bootstrap.servers": bootstrapServers,
            "group.id": "tb-gateway-bench-verify-\(UUID().uuidString.prefix(8))",
            "enable.auto.commit": "false",
            "enable.partition.eof": "true",
            "client.id": "tb-gateway-bench-verify",
        ])
        let handle = try makeKafkaHandle(RD_KAFKA_CONSUMER, conf: conf)
        defer {
            rd_kafka_consumer_close(handle)
            rd_kafka_destroy(handle)
        }
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
        let ends = try partitionEnds(handle, topic: topic, timeoutMilliseconds: milliseconds)
        guard let list = rd_kafka_topic_partition_list_new(Int32(ends.count)) else { throw KafkaError("rd_kafka_topic_partition_list_new failed") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in ends.keys.sorted() {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        let assigned = rd_kafka_assign(handle, list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError("assigning \(topic): \(String(cString: rd_kafka_err2str(assigned)))") }

        var records: [KafkaTopicRecord] = []
        // A partition is done when its next offset reached the end seen at the start.
        var remaining = Set(ends.filter { $0.value.low < $0.value.high }.map(\.key))
        let deadline = ContinuousClock.now + timeout
        while !remaining.isEmpty {
            guard ContinuousClock.now < deadline else { throw KafkaError("reading \(topic): partitions \(remaining.sorted()) not read to their end within \(timeout)") }
            guard let message = rd_kafka_consumer_poll(handle, 200) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let partition = message.pointee.partition
            if message.pointee.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                if let end = ends[partition], message.pointee.offset >= end.high { remaining.remove(partition) }
                continue
            }
            guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError("reading \(topic): \(String(cString: rd_kafka_err2str(message.pointee.err)))")
            }
            var key: String?
            if let bytes = message.pointee.key {
                key = String(decoding: UnsafeRawBufferPointer(start: bytes, count: message.pointee.key_len), as: UTF8.self)
            }
            let value = message.pointee.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: message.pointee.len)) } ?? []
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(message, &timestampType)
            records.append(KafkaTopicRecord(
                key: key, value: value, partition: partition, offset: message.pointee.offset,
                timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp))
            if let end = ends[partition], message.pointee.offset + 1 >= end.high { remaining.remove(partition) }
        }
        return records
    }

    /// Each partition's low and high watermark now.
    private static func partitionEnds(_ handle: OpaquePointer, topic: String, timeoutMilliseconds: Int32) throws(KafkaError) -> [Int32: (low: Int64, high: Int64)] {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else { throw KafkaError("rd_kafka_topic_new \(topic) failed") }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata, metadata.pointee.topic_cnt == 1 else {
            throw KafkaError("metadata of \(topic): \(String(cString: rd_kafka_err2str(result)))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let description = metadata.pointee.topics[0]
        guard description.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError("topic \(topic): \(String(cString: rd_kafka_err2str(description.err)))")
        }
        var ends: [Int32: (low: Int64, high: Int64)] = [:]
        for index in 0..<Int(description.partition_cnt) {
            let partition = description.partitions[index].id
            var low: Int64 = 0
            var high: Int64 = 0
            let queried = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
            guard queried == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError("watermarks of \(topic)/\(partition): \(String(cString: rd_kafka_err2str(queried)))")
            }
            ends[partition] = (low, high)
        }
        return ends
    }
}
