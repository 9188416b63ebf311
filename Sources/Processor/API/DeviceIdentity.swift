/// The device a message belongs to, as the processor and the sinks see it.
///
/// One instance is built per authenticated device (and kept in the credential
/// cache), so the JSON that starts every Kafka record of this device is
/// escaped once here and not once per record.
package final class DeviceIdentity: Sendable {
    /// Lower-case UUID string, the Kafka record key.
    package let id: String
    package let name: String
    package let type: String
    /// `{"deviceId":"…","deviceName":"…","deviceType":"…",` as UTF-8.
    package let recordPrefix: [UInt8]

    package init(id: String, name: String, type: String) {
        self.id = id
        self.name = name
        self.type = type
        var prefix: [UInt8] = []
        prefix.reserveCapacity(64 + id.utf8.count + name.utf8.count + type.utf8.count)
        prefix.append(contentsOf: #"{"deviceId":"#.utf8)
        JSONEscaping.appendQuoted(id, to: &prefix)
        prefix.append(contentsOf: #","deviceName":"#.utf8)
        JSONEscaping.appendQuoted(name, to: &prefix)
        prefix.append(contentsOf: #","deviceType":"#.utf8)
        JSONEscaping.appendQuoted(type, to: &prefix)
        prefix.append(UInt8(ascii: ","))
        self.recordPrefix = prefix
    }
}
