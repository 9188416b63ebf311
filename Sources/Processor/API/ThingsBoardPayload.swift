import NIOCore

/// The ThingsBoard device API payload formats (telemetry and attribute
/// uploads), parsed in one pass over the device's bytes.
///
/// Telemetry may be a plain object (`ts` = receive time), `{"ts":…, "values":{…}}`,
/// or an array of either. As in ThingsBoard, an object is the timestamped form
/// when it has both a `ts` and a `values` key.
package enum ThingsBoardPayload {
    /// A client-attribute upload: the entry to forward and the individual
    /// keys with their JSON text, to store in the registry.
    package struct AttributeUpdate: Sendable {
        package var entry: TelemetryEntry
        package var values: [(key: String, json: String)]
    }

    package static func parseTelemetry(
        _ body: ByteBuffer,
        receivedAt: Int64
    ) throws(PayloadError) -> [TelemetryEntry] {
        let located = body.withUnsafeReadableBytes { bytes in
            Result { () throws(PayloadError) in try locateTelemetry(bytes, receivedAt: receivedAt) }
        }
        return try located.get().map { span in
            TelemetryEntry(ts: span.ts, values: slice(body, span.values))
        }
    }

    package static func parseAttributes(
        _ body: ByteBuffer,
        receivedAt: Int64
    ) throws(PayloadError) -> AttributeUpdate {
        let located = body.withUnsafeReadableBytes { bytes in
            Result { () throws(PayloadError) in try locateAttributes(bytes) }
        }
        let (range, values) = try located.get()
        return AttributeUpdate(entry: TelemetryEntry(ts: receivedAt, values: slice(body, range)), values: values)
    }

    private static func slice(_ body: ByteBuffer, _ range: Range<Int>) -> ByteBuffer {
        var copy = body
        copy.moveReaderIndex(forwardBy: range.lowerBound)
        return copy.readSlice(length: range.count) ?? ByteBuffer()
    }

    /// Runs a scan, reporting a JSON syntax error as `PayloadError.invalidJSON`.
    private static func json<T>(
        _ body: () throws(JSONScanner.Failure) -> T,
        shift: Int = 0
    ) throws(PayloadError) -> T {
        do {
            return try body()
        } catch {
            throw PayloadError.invalidJSON(offset: error.offset + shift, reason: error.reason)
        }
    }

    // MARK: - Telemetry

    private static func locateTelemetry(
        _ bytes: UnsafeRawBufferPointer,
        receivedAt: Int64
    ) throws(PayloadError) -> [(ts: Int64, values: Range<Int>)] {
        var scanner = JSONScanner(bytes)
        var entries: [(ts: Int64, values: Range<Int>)] = []
        switch scanner.peek() {
        case nil:
            throw PayloadError.empty
        case UInt8(ascii: "{"):
            entries.append(try telemetryObject(&scanner, receivedAt: receivedAt, what: "telemetry"))
        case UInt8(ascii: "["):
            // Validate the whole array first, then look at each element.
            var elements: [Range<Int>] = []
            try json { () throws(JSONScanner.Failure) in
                try scanner.scanArray(depth: 0) { (range: Range<Int>) throws(JSONScanner.Failure) in
                    elements.append(range)
                }
            }
            guard !elements.isEmpty else { throw PayloadError.noValues("telemetry array") }
            for (position, range) in elements.enumerated() {
                let what = "telemetry entry \(position)"
                guard bytes[range.lowerBound] == UInt8(ascii: "{") else { throw PayloadError.notAnObject(what) }
                var element = JSONScanner(UnsafeRawBufferPointer(rebasing: bytes[range]))
                let entry = try telemetryObject(&element, receivedAt: receivedAt, what: what)
                let shift = range.lowerBound
                entries.append((entry.ts, (entry.values.lowerBound + shift)..<(entry.values.upperBound + shift)))
            }
        default:
            throw PayloadError.notAnObject("telemetry")
        }
        try expectEnd(&scanner)
        return entries
    }

    /// Scans one object in either telemetry form.
    private static func telemetryObject(
        _ scanner: inout JSONScanner,
        receivedAt: Int64,
        what: String
    ) throws(PayloadError) -> (ts: Int64, values: Range<Int>) {
        var tsRange: Range<Int>?
        var valuesRange: Range<Int>?
        var keyCount = 0
        var emptyKey = false
        _ = scanner.peek()
        let start = scanner.index
        let view = scanner
        try json { () throws(JSONScanner.Failure) in
            try scanner.scanObject(depth: 0) { (key: JSONScanner.StringSpan, value: Range<Int>) throws(JSONScanner.Failure) in
                keyCount += 1
                if key.range.isEmpty { emptyKey = true }
                switch view.decode(key) {
                case "ts": tsRange = value
                case "values": valuesRange = value
                default: break
                }
            }
        }
        if let tsRange, let valuesRange {
            let ts = try timestamp(view.text, tsRange, what: what)
            try checkValuesObject(view.text, valuesRange, what: what)
            return (ts, valuesRange)
        }
        if emptyKey { throw PayloadError.emptyKey(what) }
        if keyCount == 0 { throw PayloadError.noValues(what) }
        return (receivedAt, start..<scanner.index)
    }

    private static func timestamp(
        _ bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        what: String
    ) throws(PayloadError) -> Int64 {
        var value: Int64 = 0
        for offset in range {
            let byte = bytes[offset]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw PayloadError.invalidTimestamp(what)
            }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (sum, carried) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflowed, !carried else { throw PayloadError.invalidTimestamp(what) }
            value = sum
        }
        return value
    }

    /// `values` must be a non-empty object without empty keys.
    private static func checkValuesObject(
        _ bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        what: String
    ) throws(PayloadError) {
        guard bytes[range.lowerBound] == UInt8(ascii: "{") else {
            throw PayloadError.notAnObject("\(what): values")
        }
        var keyCount = 0
        var emptyKey = false
        var scanner = JSONScanner(UnsafeRawBufferPointer(rebasing: bytes[range]))
        try json({ () throws(JSONScanner.Failure) in
            try scanner.scanObject(depth: 1) { (key: JSONScanner.StringSpan, _: Range<Int>) throws(JSONScanner.Failure) in
                keyCount += 1
                if key.range.isEmpty { emptyKey = true }
            }
        }, shift: range.lowerBound)
        if emptyKey { throw PayloadError.emptyKey(what) }
        if keyCount == 0 { throw PayloadError.noValues(what) }
    }

    private static func expectEnd(_ scanner: inout JSONScanner) throws(PayloadError) {
        guard scanner.peek() == nil else {
            throw PayloadError.invalidJSON(offset: scanner.index, reason: "unexpected data after the JSON value")
        }
    }

    // MARK: - Attributes

    private static func locateAttributes(
        _ bytes: UnsafeRawBufferPointer
    ) throws(PayloadError) -> (Range<Int>, [(key: String, json: String)]) {
        var scanner = JSONScanner(bytes)
        switch scanner.peek() {
        case nil: throw PayloadError.empty
        case UInt8(ascii: "{"): break
        default: throw PayloadError.notAnObject("attributes")
        }
        var values: [(key: String, json: String)] = []
        var emptyKey = false
        let start = scanner.index
        let view = scanner
        try json { () throws(JSONScanner.Failure) in
            try scanner.scanObject(depth: 0) { (key: JSONScanner.StringSpan, value: Range<Int>) throws(JSONScanner.Failure) in
                if key.range.isEmpty { emptyKey = true }
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self)
                values.append((view.decode(key), text))
            }
        }
        let end = scanner.index
        try expectEnd(&scanner)
        if emptyKey { throw PayloadError.emptyKey("attributes") }
        if values.isEmpty { throw PayloadError.noValues("attributes") }
        return (start..<end, values)
    }
}

extension ThingsBoardPayload {
    /// An RPC request or reply as it goes to the RPC topic,
    /// `{"requestId":"…","payload":…}` around the device's own bytes; nil
    /// when they are not exactly one JSON value. Every transport uses it.
    package static func rpcEnvelope(id: String, payload: ByteBuffer) -> ByteBuffer? {
        let valid = payload.withUnsafeReadableBytes { bytes -> Bool in
            var scanner = JSONScanner(bytes)
            guard (try? scanner.scanValue()) != nil else { return false }
            return scanner.peek() == nil
        }
        guard valid else { return nil }
        var values = ByteBuffer(string: #"{"requestId":"# + JSONEscaping.quoted(id) + #","payload":"#)
        values.writeImmutableBuffer(payload)
        values.writeString("}")
        return values
    }
}
