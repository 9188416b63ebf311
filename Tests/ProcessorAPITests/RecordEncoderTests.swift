import NIOCore
import ProcessorAPI
import Testing

@Suite("Kafka record encoding")
struct RecordEncoderTests {
    @Test("the record is the documented JSON, byte for byte")
    func record() {
        let device = DeviceIdentity(id: "6f1c9e8a-0000-4000-8000-000000000001", name: "boiler \"7\"", type: "heater\n")
        var out: [UInt8] = []
        RecordEncoder.append(
            device: device,
            entry: TelemetryEntry(ts: 1_700_000_000_000, values: ByteBuffer(string: #"{"t": 1}"#)),
            transport: .http,
            receivedAt: 1_700_000_000_123,
            to: &out
        )
        #expect(String(decoding: out, as: UTF8.self) == #"{"deviceId":"6f1c9e8a-0000-4000-8000-000000000001","deviceName":"boiler \"7\"","deviceType":"heater\n","ts":1700000000000,"values":{"t": 1},"transport":"http","receivedAt":1700000000123}"#)
    }

    @Test("JSON escaping of control characters and integers", arguments: [
        ("a\u{01}b", #""a\u0001b""#), ("tab\t", #""tab\t""#), ("back\\slash", #""back\\slash""#), ("", #""""#),
    ])
    func escaping(input: String, expected: String) {
        #expect(JSONEscaping.quoted(input) == expected)
    }

    @Test("integers", arguments: [Int64(0), 7, -12, 1_700_000_000_000, .max, .min])
    func integers(value: Int64) {
        var out: [UInt8] = []
        JSONEscaping.appendInteger(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == String(value))
    }
}
