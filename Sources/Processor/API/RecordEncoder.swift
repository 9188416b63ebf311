import NIOCore

/// Encodes the JSON value of one Kafka record (and one element of an HTTP
/// sink batch), as docs/kafka-records.md specifies:
/// `{"deviceId","deviceName","deviceType","ts","values","transport","receivedAt"}`.
package enum RecordEncoder {
    package static func append(
        device: DeviceIdentity,
        entry: TelemetryEntry,
        transport: TransportKind,
        receivedAt: Int64,
        to out: inout [UInt8]
    ) {
        out.append(contentsOf: device.recordPrefix)
        out.append(contentsOf: #""ts":"#.utf8)
        JSONEscaping.appendInteger(entry.ts, to: &out)
        out.append(contentsOf: #","values":"#.utf8)
        entry.values.withUnsafeReadableBytes { out.append(contentsOf: $0) }
        out.append(contentsOf: #","transport":""#.utf8)
        out.append(contentsOf: transport.rawValue.utf8)
        out.append(contentsOf: #"","receivedAt":"#.utf8)
        JSONEscaping.appendInteger(receivedAt, to: &out)
        out.append(UInt8(ascii: "}"))
    }
}
