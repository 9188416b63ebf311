import NIOCore
import ProcessorAPI
import Testing

@Suite("ThingsBoard payloads")
struct ThingsBoardPayloadTests {
    static let receivedAt: Int64 = 1_750_000_000_000

    func telemetry(_ text: String) throws(PayloadError) -> [(Int64, String)] {
        try ThingsBoardPayload.parseTelemetry(ByteBuffer(string: text), receivedAt: Self.receivedAt).map {
            ($0.ts, String(buffer: $0.values))
        }
    }

    @Test("a plain object is one entry at the receive time, its bytes unchanged")
    func plainObject() throws {
        let entries = try telemetry(#" {"temperature": 21.5, "ok":true, "s":"x\"y"} "#)
        #expect(entries.count == 1)
        #expect(entries[0].0 == Self.receivedAt)
        #expect(entries[0].1 == #"{"temperature": 21.5, "ok":true, "s":"x\"y"}"#)
    }

    @Test("ts and values form a timestamped entry")
    func timestamped() throws {
        let entries = try telemetry(#"{"ts":1451649600512,"values":{"key1":"value1","key2":{"n":[1,2]}}}"#)
        #expect(entries.count == 1)
        #expect(entries[0].0 == 1_451_649_600_512)
        #expect(entries[0].1 == #"{"key1":"value1","key2":{"n":[1,2]}}"#)
    }

    @Test("an array mixes both forms")
    func array() throws {
        let entries = try telemetry(#"[{"ts":1,"values":{"a":1}},{"b":2},{"ts":3,"values":{"c":[]}}]"#)
        #expect(entries.map(\.0) == [1, Self.receivedAt, 3])
        #expect(entries.map(\.1) == [#"{"a":1}"#, #"{"b":2}"#, #"{"c":[]}"#])
    }

    @Test("an object with ts but no values is a plain object whose key happens to be ts")
    func tsOnly() throws {
        let entries = try telemetry(#"{"ts":5,"temp":1}"#)
        #expect(entries[0].0 == Self.receivedAt)
        #expect(entries[0].1 == #"{"ts":5,"temp":1}"#)
    }

    @Test("escaped keys are understood", arguments: [#"{"\u0074s":7,"values":{"a":1}}"#])
    func escapedKeys(text: String) throws {
        #expect(try telemetry(text)[0].0 == 7)
    }

    static let invalid: [(String, String)] = [
        ("", "payload is empty"),
        ("   ", "payload is empty"),
        ("{", "invalid JSON"),
        (#"{"a":1"#, "invalid JSON"),
        (#"{"a":1}}"#, "unexpected data after the JSON value"),
        (#"{"a":01}"#, "invalid JSON"),
        (#"{"a":1.}"#, "invalid number"),
        (#"{"a":tru}"#, "invalid literal"),
        (#"{"a":"\x"}"#, "invalid escape"),
        ("{\"a\":\"\u{01}\"}", "control character"),
        (#"{a:1}"#, "expected a string key"),
        ("42", "telemetry must be a JSON object"),
        (#""text""#, "telemetry must be a JSON object"),
        ("[]", "telemetry array has no values"),
        ("[1]", "telemetry entry 0 must be a JSON object"),
        (#"[{"a":1},"x"]"#, "telemetry entry 1 must be a JSON object"),
        ("{}", "telemetry has no values"),
        (#"{"":1}"#, "keys must not be empty"),
        (#"{"ts":"1","values":{"a":1}}"#, "ts must be an integer number of milliseconds"),
        (#"{"ts":1.5,"values":{"a":1}}"#, "ts must be an integer number of milliseconds"),
        (#"{"ts":-1,"values":{"a":1}}"#, "ts must be an integer number of milliseconds"),
        (#"{"ts":1e3,"values":{"a":1}}"#, "ts must be an integer number of milliseconds"),
        (#"{"ts":99999999999999999999,"values":{"a":1}}"#, "number out of range"),  // refused by the scanner now, before ts is read
        (#"{"ts":1,"values":[1]}"#, "values must be a JSON object"),
        (#"{"ts":1,"values":{}}"#, "has no values"),
        (#"{"ts":1,"values":{"":2}}"#, "keys must not be empty"),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "nesting deeper than 64"),
    ]

    @Test("invalid telemetry is refused with a reason", arguments: invalid)
    func invalidTelemetry(text: String, reason: String) {
        do {
            let entries = try telemetry(text)
            Issue.record("accepted \(text): \(entries)")
        } catch {
            #expect(error.description.contains(reason), "\(text) -> \(error.description)")
        }
    }

    /// Before, these were forwarded verbatim and a consumer read them as
    /// infinity or failed on them.
    @Test("numbers the backend cannot hold are refused: integers outside Int64, doubles past their range", arguments: [
        #"{"a":9223372036854775808}"#, #"{"a":-9223372036854775809}"#, #"{"a":18446744073709551616}"#,
        "{\"a\":" + String(repeating: "9", count: 400) + "}", #"{"a":1e309}"#, #"{"a":-1.8e308}"#,
        #"{"a":[1,{"b":2e999999999999}]}"#, "{\"a\":" + String(repeating: "9", count: 400) + ".5}",
    ])
    func outOfRange(text: String) {
        do {
            let entries = try telemetry(text)
            Issue.record("accepted \(text.prefix(60)): \(entries.count) entries")
        } catch {
            #expect(error.description.contains("number out of range"), "\(error.description)")
        }
    }

    @Test("numbers at the edges of the range pass unchanged", arguments: [
        #"{"a":9223372036854775807}"#, #"{"a":-9223372036854775808}"#, #"{"a":1000000000000000000}"#, #"{"a":1.7976931348623157e308}"#,
        #"{"a":-1e308}"#, #"{"a":1e-400}"#, #"{"a":0.0000001e309}"#, #"{"a":123.456e-5}"#, #"{"a":0}"#, #"{"a":-0.0}"#,
    ])
    func atTheEdges(text: String) throws {
        #expect(try telemetry(text).map(\.1) == [text])
    }

    @Test("invalid UTF-8 inside strings is refused", arguments: [
        [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D] as [UInt8],  // overlong '/'
        [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D],  // surrogate
        [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE2, 0x82, 0x22, 0x7D],  // truncated
    ])
    func invalidUTF8(bytes: [UInt8]) {
        #expect(throws: PayloadError.self) {
            try ThingsBoardPayload.parseTelemetry(ByteBuffer(bytes: bytes), receivedAt: 0)
        }
    }

    @Test("valid multi-byte UTF-8 passes unchanged")
    func validUTF8() throws {
        let text = #"{"name":"Zürich ☀ 𝄞"}"#
        #expect(try telemetry(text)[0].1 == text)
    }

    @Test("attributes: a non-empty object; keys and JSON text per key")
    func attributes() throws {
        let update = try ThingsBoardPayload.parseAttributes(
            ByteBuffer(string: #"{"fw":"1.0","n":{"a":[1, 2]},"on":true}"#), receivedAt: 9)
        #expect(update.entry.ts == 9)
        #expect(String(buffer: update.entry.values) == #"{"fw":"1.0","n":{"a":[1, 2]},"on":true}"#)
        #expect(update.values.map(\.key) == ["fw", "n", "on"])
        #expect(update.values.map(\.json) == [#""1.0""#, #"{"a":[1, 2]}"#, "true"])
    }

    @Test("invalid attributes are refused", arguments: [
        ("[]", "attributes must be a JSON object"),
        ("{}", "attributes has no values"),
        (#"{"":1}"#, "keys must not be empty"),
        (#"{"a":}"#, "invalid JSON"),
    ])
    func invalidAttributes(text: String, reason: String) {
        do {
            _ = try ThingsBoardPayload.parseAttributes(ByteBuffer(string: text), receivedAt: 0)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(text) -> \(error.description)")
        }
    }
}
