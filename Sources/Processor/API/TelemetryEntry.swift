import NIOCore

/// One timestamped set of values: ThingsBoard's `{"ts":…, "values":{…}}`.
///
/// `values` is a slice of the device's own request bytes, already validated
/// as a JSON object; it is spliced into the record unchanged, never decoded
/// into dictionaries and encoded again.
package struct TelemetryEntry: Sendable {
    /// Milliseconds since the Unix epoch.
    package var ts: Int64
    /// The UTF-8 bytes of one JSON object.
    package var values: ByteBuffer

    package init(ts: Int64, values: ByteBuffer) {
        self.ts = ts
        self.values = values
    }
}
