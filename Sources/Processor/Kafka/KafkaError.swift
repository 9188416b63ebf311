import CRdKafka

/// A librdkafka call that failed, with librdkafka's own words.
package struct KafkaError: Error, Sendable, CustomStringConvertible {
    package let description: String

    package init(_ description: String) {
        self.description = description
    }

    package init(_ what: String, code: rd_kafka_resp_err_t) {
        self.description = "\(what): \(String(cString: rd_kafka_err2str(code)))"
    }
}

/// Builds an `rd_kafka_conf_t` from properties; the caller owns the result
/// until it passes it to `rd_kafka_new`.
func makeKafkaConf(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else { throw KafkaError("rd_kafka_conf_new failed") }
    var errorText = [CChar](repeating: 0, count: 512)
    for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
        let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
        guard result == RD_KAFKA_CONF_OK else {
            rd_kafka_conf_destroy(conf)
            let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError("librdkafka property \(key)=\(value): \(reason)")
        }
    }
    return conf
}

/// Calls `rd_kafka_new`, which takes ownership of `conf` on success only.
func makeKafkaHandle(_ type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
    var errorText = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw KafkaError("rd_kafka_new: \(reason)")
    }
    return handle
}
