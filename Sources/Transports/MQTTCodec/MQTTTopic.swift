/// Topic name and topic filter rules (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7).
package enum MQTTTopic {
    /// A topic name in PUBLISH: at least one character, no wildcards (MQTT-3.3.2-2).
    package static func validateName(_ topic: String) throws(MQTTCodecError) {
        guard !topic.isEmpty else { throw .invalidTopic("empty topic name") }
        // One pass over the bytes: this runs for every PUBLISH.
        var topic = topic
        let wildcard = topic.withUTF8 { bytes in bytes.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") } }
        guard !wildcard else { throw .invalidTopic("wildcard in a topic name") }
    }

    /// A topic filter in SUBSCRIBE/UNSUBSCRIBE: `#` only as the whole last
    /// level, `+` only as a whole level (MQTT-4.7.1-2/3).
    package static func validateFilter(_ filter: String) throws(MQTTCodecError) {
        guard !filter.isEmpty else { throw .invalidTopic("empty topic filter") }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || index != levels.count - 1 {
                throw .invalidTopic("'#' must be the whole last level")
            }
            if level.contains("+"), level != "+" {
                throw .invalidTopic("'+' must be a whole level")
            }
        }
    }

    /// Whether `topic` matches `filter` (MQTT 3.1.1 §4.7; topics starting
    /// with `$` are not matched by a leading wildcard, MQTT-4.7.2-1).
    package static func matches(filter: String, topic: String) -> Bool {
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = filterLevels.first, first == "+" || first == "#" { return false }
        for (index, level) in filterLevels.enumerated() {
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+", level != topicLevels[index] { return false }
        }
        return filterLevels.count == topicLevels.count
    }
}
