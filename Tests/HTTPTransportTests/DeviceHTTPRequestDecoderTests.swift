import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import HTTPTransport

/// What the decoder made of some bytes, in a form a test can compare.
enum Decoded: Equatable {
    case request(method: String, target: String, minor: Int, keepAlive: Bool, body: String)
    case continueExpected
    case refused(status: Int, reason: String)
}

/// Feeds `chunks` to a decoder with MAX_PAYLOAD_SIZE `maximumBody`, one
/// read each, and returns everything it produced.
func decode(_ chunks: [String], maximumBody: Int = 1000) throws -> [Decoded] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(DeviceHTTPRequestDecoder(maximumBodySize: maximumBody)))
    var parts: [Decoded] = []
    for chunk in chunks {
        try channel.writeInbound(ByteBuffer(string: chunk))
        while let part = try channel.readInbound(as: DeviceHTTPRequestPart.self) {
            switch part {
            case .request(let request):
                parts.append(.request(
                    method: request.method.rawValue, target: request.target, minor: request.version.minor,
                    keepAlive: request.keepAlive, body: String(buffer: request.body)))
            case .continueExpected:
                parts.append(.continueExpected)
            case .refused(let response, _):
                parts.append(.refused(status: Int(response.status.code), reason: response.body))
            }
        }
    }
    _ = try? channel.finish()
    return parts
}

@Suite("HTTP device API: request decoder (RFC 9112)")
struct DeviceHTTPRequestDecoderTests {
    static let telemetry = "POST /api/v1/T1/telemetry HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"

    @Test("pipelined requests in one read come out in order with their bodies")
    func pipelined() throws {
        let get = "GET /api/v1/T1/attributes?clientKeys=a HTTP/1.1\r\nHost: gw\r\n\r\n"
        #expect(try decode([Self.telemetry + get + Self.telemetry]) == [
            .request(method: "POST", target: "/api/v1/T1/telemetry", minor: 1, keepAlive: true, body: #"{"a":1}"#),
            .request(method: "GET", target: "/api/v1/T1/attributes?clientKeys=a", minor: 1, keepAlive: true, body: ""),
            .request(method: "POST", target: "/api/v1/T1/telemetry", minor: 1, keepAlive: true, body: #"{"a":1}"#),
        ])
    }

    @Test("a request arriving one byte at a time is the same request")
    func byteByByte() throws {
        let chunks = Self.telemetry.utf8.map { String(decoding: [$0], as: UTF8.self) }
        #expect(try decode(chunks) == [
            .request(method: "POST", target: "/api/v1/T1/telemetry", minor: 1, keepAlive: true, body: #"{"a":1}"#)
        ])
    }

    @Test("chunked body with extensions and trailers; bare LF line ends; empty lines before a request")
    func chunked() throws {
        let request = "\r\nPOST /t HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n"
        let bareLF = "POST /t HTTP/1.1\ncontent-length: 2\n\n{}"
        #expect(try decode([request, bareLF]) == [
            .request(method: "POST", target: "/t", minor: 1, keepAlive: true, body: #"{"a":1}"#),
            .request(method: "POST", target: "/t", minor: 1, keepAlive: true, body: "{}"),
        ])
        // The same chunked request cut into pieces at every awkward place.
        let pieces = stride(from: 0, to: request.utf8.count, by: 3).map { start in
            String(decoding: Array(request.utf8)[start..<min(start + 3, request.utf8.count)], as: UTF8.self)
        }
        #expect(try decode(pieces).count == 1)
    }

    @Test("Connection: close, HTTP/1.0 with and without keep-alive")
    func keepAlive() throws {
        #expect(try decode([
            "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /health HTTP/1.0\r\n\r\n",
            "GET /health HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n",
        ]) == [
            .request(method: "GET", target: "/health", minor: 1, keepAlive: false, body: ""),
            .request(method: "GET", target: "/health", minor: 0, keepAlive: false, body: ""),
            .request(method: "GET", target: "/health", minor: 0, keepAlive: true, body: ""),
        ])
    }

    @Test("Expect: 100-continue is announced before a body that has not arrived yet")
    func expectContinue() throws {
        let head = "POST /t HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        #expect(try decode([head, "{}"]) == [
            .continueExpected,
            .request(method: "POST", target: "/t", minor: 1, keepAlive: true, body: "{}"),
        ])
        // The body came with the head: nothing to announce.
        #expect(try decode([head + "{}"]) == [.request(method: "POST", target: "/t", minor: 1, keepAlive: true, body: "{}")])
    }

    @Test("oversize bodies are refused 413 before they are read, announced or chunked")
    func tooLarge() throws {
        let announced = try decode(["POST /t HTTP/1.1\r\nContent-Length: 11\r\n\r\n"], maximumBody: 10)
        #expect(announced.count == 1)
        guard case .refused(413, let reason) = announced.first else { Issue.record("\(announced)"); return }
        #expect(reason.contains("MAX_PAYLOAD_SIZE (10 bytes)"))
        let chunked = try decode(["POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n3\r\n"], maximumBody: 10)
        #expect(chunked.map { if case .refused(let status, _) = $0 { status } else { 0 } } == [413])
        // A Content-Length of 19 digits is refused, not overflowed.
        let huge = try decode(["POST /t HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n"])
        #expect(huge.map { if case .refused(let status, _) = $0 { status } else { 0 } } == [400])
    }

    @Test("malformed requests are refused with the status that says why, and nothing after them is read")
    func malformed() throws {
        let cases: [(String, Int, String)] = [
            ("GARBAGE\r\n\r\n", 400, "request line"),
            ("GET /x HTTP/2.0\r\n\r\n", 505, "HTTP/1.x"),
            ("GET /x HTTQ/1.1\r\n\r\n", 400, "HTTP version"),
            ("POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
            ("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "chunked"),
            ("POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "Content-Length"),
            ("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Content-Length"),
            ("GET /x HTTP/1.1\r\nHost : gw\r\n\r\n", 400, "header field"),
            ("GET /x HTTP/1.1\r\n folded\r\n\r\n", 400, "header field"),
            ("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
            ("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 400, "CRLF"),
        ]
        for (bytes, status, reason) in cases {
            // The valid request after the bad one must not be decoded: its start is unknown.
            let parts = try decode([bytes, Self.telemetry])
            #expect(parts.count == 1, "\(bytes.debugDescription) -> \(parts)")
            guard case .refused(let got, let body) = parts.first else { Issue.record("\(bytes.debugDescription) -> \(parts)"); continue }
            #expect(got == status, "\(bytes.debugDescription)")
            #expect(body.contains(reason), "\(bytes.debugDescription) -> \(body)")
        }
    }

    @Test("a header section over 16 KiB is refused 431, whether or not it ever ends")
    func headTooLarge() throws {
        let filler = "X-Filler: " + String(repeating: "a", count: 17 * 1024) + "\r\n"
        for tail in ["", "\r\n"] {
            let parts = try decode(["GET /x HTTP/1.1\r\n" + filler + tail])
            #expect(parts.map { if case .refused(let status, _) = $0 { status } else { 0 } } == [431])
        }
    }

    @Test("a request cut off by the end of the connection yields nothing")
    func truncated() throws {
        #expect(try decode(["POST /t HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\""]).isEmpty)
        #expect(try decode(["POST /t HTTP/1.1\r\nContent-Le"]).isEmpty)
    }
}
