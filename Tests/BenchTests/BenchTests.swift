import CoAPCodec
import Foundation
import NIOCore
import ProcessorAPI
import Testing

@testable import Bench

/// The load generator's parts that can be checked without timing.
@Suite("Load generator: templates, tokens, percentiles, the verifier")
struct BenchTests {
    @Test("the HTTP answer scanner: split reads, several answers in one read, 100 Continue, bodies, errors")
    func responseScanner() throws {
        var scanner = HTTPResponseScanner()
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        let refused = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nretry-after: 1\r\n\r\n{\"e\":\"x\"}"
        let all = Array((ok + "HTTP/1.1 100 Continue\r\n\r\n" + refused + ok).utf8)
        // Every split point gives the same answers.
        for split in 0...all.count {
            var first = ByteBuffer(bytes: all[..<split])
            var second = ByteBuffer(bytes: all[split...])
            var statuses = try scanner.scan(&first)
            statuses += try scanner.scan(&second)
            #expect(statuses == [200, 503, 200], "split at \(split)")
        }
        var bad = ByteBuffer(string: "HTTP/1.1 2x0 OK\r\n\r\n")
        #expect(throws: HTTPResponseScanner.Failure.malformedStatusLine) { try scanner.scan(&bad) }
        var unframed = ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")
        var fresh = HTTPResponseScanner()
        #expect(throws: HTTPResponseScanner.Failure.missingContentLength) { try fresh.scan(&unframed) }
    }

    @Test("the default template renders seq and ts; padding reaches the asked size")
    func template() throws {
        let plain = try BenchTemplate()
        #expect(String(decoding: plain.render(seq: 7, ts: 1_700_000_000_123, device: 3), as: UTF8.self) == #"{"seq":7,"ts":1700000000123}"#)
        let padded = try BenchTemplate(size: 100)
        let rendered = padded.render(seq: 100_000, ts: 1_700_000_000_000, device: 100)
        #expect(rendered.count == 100, "\(String(decoding: rendered, as: UTF8.self))")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rendered)) as? [String: Any])
        #expect(object["seq"] as? Int == 100_000 && (object["pad"] as? String)?.allSatisfy { $0 == "x" } == true)
        let custom = try BenchTemplate(#"{"t":21.5,"n":{seq},"d":"dev-{device}","at":{ts},"raw":"{x}"}"#)
        #expect(String(decoding: custom.render(seq: 1, ts: 2, device: 9), as: UTF8.self) == #"{"t":21.5,"n":1,"d":"dev-9","at":2,"raw":"{x}"}"#)
        // Rendering into a reused array gives the same bytes; numbers as String would write them.
        var reused: [UInt8] = Array("left over".utf8)
        custom.render(seq: 1, ts: 2, device: 9, into: &reused)
        #expect(reused == custom.render(seq: 1, ts: 2, device: 9))
        for value: Int64 in [0, 7, 10, 99_999, 1_700_000_000_123, -42, .max, .min] {
            var digits: [UInt8] = []
            BenchTemplate.appendDecimal(value, to: &digits)
            #expect(String(decoding: digits, as: UTF8.self) == String(value))
        }
        #expect(throws: BenchTemplate.TemplateError.self) { try BenchTemplate(#"{"t":1}"#) }
        #expect(throws: BenchTemplate.TemplateError.self) { try BenchTemplate("{seq}", size: 100) }
    }

    @Test("tokens from a pattern or a file; a bad token or pattern is refused")
    func tokens() throws {
        #expect(try BenchTokens.fromPattern("bench-{n}", count: 3) == ["bench-1", "bench-2", "bench-3"])
        #expect(throws: BenchTokens.TokenError.self) { try BenchTokens.fromPattern("bench", count: 3) }
        #expect(throws: BenchTokens.TokenError.self) { try BenchTokens.fromPattern("bad token {n}", count: 1) }
        let path = NSTemporaryDirectory() + "bench-tokens-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "a1\n\n b2 \nc3\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try BenchTokens.fromFile(path) == ["a1", "b2", "c3"])
        try "ok\nnot/ok\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: BenchTokens.TokenError.self) { try BenchTokens.fromFile(path) }
    }

    @Test("percentiles: exact for small values, within 1.6 % above, never above the maximum; merging adds")
    func percentiles() {
        var histogram = LatencyHistogram()
        for value in 1...100 { histogram.record(microseconds: UInt64(value)) }
        #expect(histogram.percentile(50) == 50 && histogram.percentile(90) == 90 && histogram.percentile(99) == 99)
        #expect(histogram.percentile(100) == 100 && histogram.max == 100 && histogram.mean == 50.5)
        var large = LatencyHistogram()
        for value in stride(from: 1000, through: 1_000_000, by: 1000) { large.record(microseconds: UInt64(value)) }
        for (percent, exact) in [(50.0, 500_000.0), (90, 900_000), (99, 990_000)] {
            let reported = Double(large.percentile(percent))
            #expect(reported >= exact && reported <= exact * 1.016, "p\(percent): \(reported)")
        }
        #expect(large.percentile(100) == 1_000_000)
        histogram.merge(large)
        #expect(histogram.count == 1100 && histogram.max == 1_000_000)
        #expect(LatencyHistogram().percentile(99) == 0)
        // Every bucket's upper bound is the last value that maps to it.
        for value: UInt64 in [127, 128, 129, 255, 256, 1000, 65_535, 1 << 40] {
            let bucket = LatencyHistogram.bucket(value)
            #expect(LatencyHistogram.upperBound(bucket) >= value && LatencyHistogram.bucket(LatencyHistogram.upperBound(bucket)) == bucket)
            #expect(LatencyHistogram.bucket(LatencyHistogram.upperBound(bucket) + 1) == bucket + 1)
        }
    }

    @Test("histograms of a few samples merge into the same percentiles as one histogram of them all")
    func fewSamplesMerge() {
        // 1,000 connections' connect times, one sample each (kept as values), merged.
        var merged = LatencyHistogram()
        var whole = LatencyHistogram()
        var tiny = LatencyHistogram()
        for value in 0..<1000 {
            let micros = UInt64(value * 37 % 5000 + 1)
            var one = LatencyHistogram()
            one.record(microseconds: micros)
            #expect(one.percentile(50) == micros)
            merged.merge(one)
            whole.record(microseconds: micros)
            if value < 5 { tiny.merge(one) }
        }
        #expect(merged.count == 1000 && merged.max == whole.max && merged.mean == whole.mean)
        for percent in [1.0, 50, 90, 99, 100] { #expect(merged.percentile(percent) == whole.percentile(percent)) }
        // Five samples stay values: exact, below 128 µs or not.
        #expect(tiny.count == 5 && tiny.percentile(100) == tiny.max && tiny.percentile(20) == 1)
    }

    @Test("the steady window leaves out the first second and the last; its latencies are reported apart from the whole run's")
    func steadyWindow() throws {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let window = SteadyWindow(start: start, duration: .seconds(10))
        #expect(!window.contains(start) && !window.contains(start + .milliseconds(999)))
        #expect(window.contains(start + .seconds(1)) && window.contains(start + .milliseconds(8_999)))
        #expect(!window.contains(start + .seconds(9)) && !window.contains(start + .seconds(20)))
        // A --count run has no deadline: only the first second is left out.
        let open = SteadyWindow(start: start, duration: nil)
        #expect(!open.contains(start + .milliseconds(500)) && open.contains(start + .seconds(3_600)))

        // A slow connect ramp (40 ms answers) and a quick steady state (2 ms).
        var result = LoadResult()
        for millisecond in stride(from: 0, to: 10_000, by: 10) {
            let sentAt = start + .milliseconds(Int64(millisecond))
            let took: TimeAmount = millisecond < 1_000 || millisecond >= 9_000 ? .milliseconds(40) : .milliseconds(2)
            result.recordLatency(sentAt: sentAt, now: sentAt + took, window: window)
        }
        #expect(result.latency.count == 1_000 && result.steadyLatency.count == 800)
        #expect(result.latency.percentile(99) >= 39_000 && result.steadyLatency.max == 2_000)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        let steady = try #require(json["steadyLatencyMs"] as? [String: Double])
        let whole = try #require(json["latencyMs"] as? [String: Double])
        #expect(steady["p99"] == 2.0 && (whole["p99"] ?? 0) >= 39)

        // Too short for a window: the steady figure is the whole run's, as steadyRate is the rate.
        var short = LoadResult()
        short.recordLatency(sentAt: start, now: start + .milliseconds(3), window: window)
        let shortJSON = try #require(try JSONSerialization.jsonObject(with: Data(short.json.utf8)) as? [String: Any])
        #expect((shortJSON["steadyLatencyMs"] as? [String: Double])?["p99"] == 3.0)
    }

    @Test("the verifier finds the missing, the duplicated and the out-of-order, per device")
    func verifier() {
        var verifier = SequenceVerifier()
        for seq in [1, 2, 4, 4, 3, 6] { verifier.add(device: "a", seq: seq, sentAt: 1000, recordedAt: 1005) }
        for seq in [1, 2, 3] { verifier.add(device: "b", seq: seq, sentAt: nil, recordedAt: nil) }
        let reports = verifier.reports()
        #expect(reports["a"] == SequenceVerifier.DeviceReport(received: 6, missing: [5], duplicates: [4], outOfOrder: [3]))
        #expect(reports["b"] == SequenceVerifier.DeviceReport(received: 3))
        #expect(verifier.latency.count == 6 && verifier.latency.percentile(50) == 5000)
        // Against what the gateway acknowledged: c's one message never arrived; b's 4 was not acknowledged.
        let acknowledged = verifier.reports(acknowledged: ["a": [1, 2, 3, 4, 6], "b": [1, 2, 3], "c": [1]])
        #expect(acknowledged["a"]?.missing == [] && acknowledged["c"]?.missing == [1] && acknowledged["c"]?.received == 0)
    }

    @Test("bench coap's request: the pre-encoded prefix with the message id, token and payload decodes as the POST a CoAPMessage makes")
    func coapRequest() throws {
        let request = CoAPLoadRequest(uriPath: ["api", "v1", "a-device-token-of-20c", "telemetry"], contentFormat: 50)
        let payload = Array(#"{"seq":7,"ts":1700000000000}"#.utf8)
        let datagram = request.datagram(messageId: 0xBEEF, token: 0x0102_0304, payload: payload, allocator: ByteBufferAllocator())
        let decoded = try CoAPMessage(decoding: datagram)
        #expect(decoded.type == .confirmable && decoded.code == .post && decoded.messageId == 0xBEEF)
        #expect(decoded.token == CoAPToken(value: 0x0102_0304, length: 4))
        #expect(decoded.uriPath == ["api", "v1", "a-device-token-of-20c", "telemetry"] && decoded.contentFormat == 50)
        #expect(decoded.payload == ByteBuffer(bytes: payload))
        // Byte for byte what the codec writes for the same message.
        var expected = CoAPMessage(
            type: .confirmable, code: .post, messageId: 0xBEEF, token: CoAPToken(value: 0x0102_0304, length: 4), payload: ByteBuffer(bytes: payload))
        expected.setURI(path: ["api", "v1", "a-device-token-of-20c", "telemetry"])
        expected.contentFormat = 50
        #expect(datagram == expected.encoded())
        // No payload: no marker (RFC 7252 §3).
        let empty = request.datagram(messageId: 1, token: 2, payload: [], allocator: ByteBufferAllocator())
        #expect(try CoAPMessage(decoding: empty).payload.readableBytes == 0 && empty.readableBytes == datagram.readableBytes - payload.count - 1)
    }

    @Test("the ACK time-out's random factor (SplitMix64): deterministic per seed, spread over [1, 1.5]")
    func loadRandom() {
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        let first = (0..<1000).map { _ in Double.random(in: 1...1.5, using: &a) }
        #expect(first == (0..<1000).map { _ in Double.random(in: 1...1.5, using: &b) })
        #expect(first.allSatisfy { (1...1.5).contains($0) })
        // Both halves of the range are hit: not a constant.
        #expect(first.contains { $0 < 1.25 } && first.contains { $0 > 1.25 })
        #expect(Set(first).count > 990)
    }
}
