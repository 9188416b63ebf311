import NIOCore
import NIOHTTP1

/// A request of the device API: what the routes need and nothing more.
struct DeviceHTTPRequest {
    var method: HTTPMethod
    var target: String
    var version: HTTPVersion
    var keepAlive: Bool
    var body: ByteBuffer
}

/// What the decoder hands the device handler, in the order of the requests.
enum DeviceHTTPRequestPart {
    case request(DeviceHTTPRequest)
    /// The head of a request with `Expect: 100-continue` is complete and its
    /// body may be sent (RFC 9110 §10.1.1).
    case continueExpected
    /// A request that cannot be read: answered with this, then the
    /// connection closes, because where the next request starts is unknown.
    case refused(DeviceHTTPResponse, version: HTTPVersion)
}

/// HTTP/1.1 requests (RFC 9112) for the device API, decoded without
/// building header dictionaries: the header section is scanned for the four
/// fields the API acts on (Content-Length, Transfer-Encoding, Connection,
/// Expect) and the body is a slice of what was read. Devices send small
/// requests at high rates, and the general-purpose parser's per-header
/// strings and per-part pipeline events cost more than the request itself.
struct DeviceHTTPRequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = DeviceHTTPRequestPart

    /// The largest header section accepted (request line included).
    static let maximumHeadSize = 16 * 1024

    private enum State {
        case head
        case body(DeviceHTTPRequest, length: Int)
        case chunkSize(DeviceHTTPRequest)
        case chunkData(DeviceHTTPRequest, remaining: Int)
        case chunkDataEnd(DeviceHTTPRequest)
        case trailers(DeviceHTTPRequest)
        /// After a refusal: everything else on the connection is dropped.
        case discarding
    }

    private let maximumBodySize: Int
    private var state = State.head
    /// How far the search for the end of the header section got, so a head
    /// arriving in pieces is not searched from its start again.
    private var searched = 0

    init(maximumBodySize: Int) {
        self.maximumBodySize = maximumBodySize
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            return decodeHead(context: context, buffer: &buffer)
        case .body(var request, let length):
            guard let body = buffer.readSlice(length: length) else { return .needMoreData }
            request.body = body
            return emit(request, context: context)
        case .chunkSize(let request):
            guard let line = Self.readLine(&buffer, limit: 1024) else {
                return buffer.readableBytes > 1024 ? refuse(.error(.badRequest, "chunk size line too long"), request.version, context) : .needMoreData
            }
            // chunk-size [ chunk-ext ] (RFC 9112 §7.1): the hex digits before any ';'.
            guard let size = Self.hexSize(line) else { return refuse(.error(.badRequest, "malformed chunk size"), request.version, context) }
            if size == 0 {
                state = .trailers(request)
            } else if request.body.readableBytes + size > maximumBodySize {
                return refuse(.tooLarge(maximumBodySize), request.version, context)
            } else {
                state = .chunkData(request, remaining: size)
            }
            return .continue
        case .chunkData(var request, let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let taken = min(remaining, buffer.readableBytes)
            var slice = buffer.readSlice(length: taken)!
            state = .discarding  // drops the state's reference, so the body grows in place
            request.body.writeBuffer(&slice)
            state = taken == remaining ? .chunkDataEnd(request) : .chunkData(request, remaining: remaining - taken)
            return .continue
        case .chunkDataEnd(let request):
            guard let line = Self.readLine(&buffer, limit: 2) else {
                return buffer.readableBytes >= 2 ? refuse(.error(.badRequest, "chunk data not followed by CRLF"), request.version, context) : .needMoreData
            }
            guard line.readableBytes == 0 else { return refuse(.error(.badRequest, "chunk data not followed by CRLF"), request.version, context) }
            state = .chunkSize(request)
            return .continue
        case .trailers(let request):
            // Trailer fields are read and ignored (RFC 9112 §7.1.2).
            guard let line = Self.readLine(&buffer, limit: Self.maximumHeadSize) else {
                return buffer.readableBytes > Self.maximumHeadSize
                    ? refuse(.error(.requestHeaderFieldsTooLarge, "trailer section too large"), request.version, context) : .needMoreData
            }
            if line.readableBytes == 0 { return emit(request, context: context) }
            return .continue
        case .discarding:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A request cut off by the end of the connection cannot be answered.
        if case .discarding = state { buffer.moveReaderIndex(to: buffer.writerIndex); return .needMoreData }
        let decoded = try decode(context: context, buffer: &buffer)
        if case .needMoreData = decoded { buffer.moveReaderIndex(to: buffer.writerIndex) }
        return decoded
    }

    private mutating func emit(_ request: DeviceHTTPRequest, context: ChannelHandlerContext) -> DecodingState {
        state = .head
        context.fireChannelRead(NIOAny(DeviceHTTPRequestPart.request(request)))
        return .continue
    }

    private mutating func refuse(_ response: DeviceHTTPResponse, _ version: HTTPVersion, _ context: ChannelHandlerContext) -> DecodingState {
        state = .discarding
        context.fireChannelRead(NIOAny(DeviceHTTPRequestPart.refused(response, version: version)))
        return .continue
    }

    // MARK: The header section

    private mutating func decodeHead(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        if searched == 0 {
            while let byte = buffer.readableBytesView.first, byte == 13 || byte == 10 { buffer.moveReaderIndex(forwardBy: 1) }
        }
        guard let headLength = findHeadEnd(buffer) else {
            // A head that never ends within the limit is refused as one that does.
            return buffer.readableBytes > Self.maximumHeadSize ? refuseHeadTooLarge(context) : .needMoreData
        }
        searched = 0
        guard headLength <= Self.maximumHeadSize else { return refuseHeadTooLarge(context) }
        let head = buffer.readSlice(length: headLength)!
        let parsed = Self.parseHead(head)
        switch parsed {
        case .failure(let refusal):
            return refuse(refusal.response, refusal.version, context)
        case .success(let parsed):
            var request = parsed.request
            if parsed.chunked {
                // The chunks are gathered here; a Content-Length body is a slice of what was read.
                request.body = context.channel.allocator.buffer(capacity: 256)
                if parsed.expectsContinue { context.fireChannelRead(NIOAny(DeviceHTTPRequestPart.continueExpected)) }
                state = .chunkSize(request)
                return .continue
            }
            if parsed.contentLength > maximumBodySize {
                return refuse(.tooLarge(maximumBodySize), request.version, context)
            }
            if parsed.contentLength == 0 { return emit(request, context: context) }
            if parsed.expectsContinue, buffer.readableBytes < parsed.contentLength {
                context.fireChannelRead(NIOAny(DeviceHTTPRequestPart.continueExpected))
            }
            state = .body(request, length: parsed.contentLength)
            return .continue
        }
    }

    private mutating func refuseHeadTooLarge(_ context: ChannelHandlerContext) -> DecodingState {
        refuse(.error(.requestHeaderFieldsTooLarge, "header section larger than \(Self.maximumHeadSize) bytes"), .http1_1, context)
    }

    /// The length of the header section including the empty line that ends
    /// it, or nil if it is not all here. A bare LF ends a line too (RFC 9112 §2.2).
    private mutating func findHeadEnd(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = max(searched, 0)
            while index < bytes.count {
                if bytes[index] == 10 {
                    if index + 1 < bytes.count, bytes[index + 1] == 10 { return index + 2 }
                    if index + 2 < bytes.count, bytes[index + 1] == 13, bytes[index + 2] == 10 { return index + 3 }
                    if index + 2 >= bytes.count { break }
                }
                index += 1
            }
            // Look again from the last line break that could start the end.
            searched = max(0, min(index, bytes.count) - 2)
            return nil
        }
    }

    struct ParsedHead {
        var request: DeviceHTTPRequest
        var contentLength = 0
        var chunked = false
        var expectsContinue = false
    }

    struct Refusal: Error {
        var response: DeviceHTTPResponse
        var version: HTTPVersion
    }

    /// The request line and the fields the API acts on, from a complete header section.
    static func parseHead(_ head: ByteBuffer) -> Result<ParsedHead, Refusal> {
        var head = head
        guard let requestLine = readLine(&head, limit: maximumHeadSize) else {
            return .failure(Refusal(response: .error(.badRequest, "malformed request line"), version: .http1_1))
        }
        // method SP request-target SP HTTP-version (RFC 9112 §3)
        let line = requestLine.readableBytesView
        guard let firstSpace = line.firstIndex(of: 32), let lastSpace = line.lastIndex(of: 32), firstSpace < lastSpace,
            firstSpace > line.startIndex
        else {
            return .failure(Refusal(response: .error(.badRequest, "malformed request line"), version: .http1_1))
        }
        let versionBytes = line[(lastSpace + 1)...]
        guard versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8),
            let major = digit(versionBytes[versionBytes.startIndex + 5]), versionBytes[versionBytes.startIndex + 6] == UInt8(ascii: "."),
            let minor = digit(versionBytes[versionBytes.startIndex + 7])
        else {
            return .failure(Refusal(response: .error(.badRequest, "malformed HTTP version"), version: .http1_1))
        }
        guard major == 1 else {
            return .failure(Refusal(response: .error(.httpVersionNotSupported, "only HTTP/1.x is served here"), version: .http1_1))
        }
        let version = HTTPVersion(major: 1, minor: minor)
        let target = String(decoding: line[(firstSpace + 1)..<lastSpace], as: UTF8.self)
        guard !target.isEmpty, !target.utf8.contains(32) else {
            return .failure(Refusal(response: .error(.badRequest, "malformed request target"), version: version))
        }
        let method = HTTPMethod(bytes: line[line.startIndex..<firstSpace])
        var parsed = ParsedHead(
            request: DeviceHTTPRequest(method: method, target: target, version: version, keepAlive: minor >= 1, body: ByteBuffer()))
        var contentLength: Int?
        var transferEncoding = false
        var hosts = 0
        // RFC 9110 §5.5: a field value with NUL is rejected (one scan of the head).
        if head.readableBytesView.contains(0) { return .failure(Refusal(response: .error(.badRequest, "NUL in the header section"), version: version)) }
        func refusal(_ message: String) -> Result<ParsedHead, Refusal> {
            .failure(Refusal(response: .error(.badRequest, message), version: version))
        }
        while let fieldLine = readLine(&head, limit: maximumHeadSize), fieldLine.readableBytes > 0 {
            let field = fieldLine.readableBytesView
            // field-name ":" OWS field-value OWS (RFC 9112 §5); no folding, no space before the colon.
            guard let colon = field.firstIndex(of: UInt8(ascii: ":")), colon > field.startIndex,
                field[field.startIndex] != 32, field[field.startIndex] != 9, field[colon - 1] != 32, field[colon - 1] != 9
            else { return refusal("malformed header field") }
            let name = field[field.startIndex..<colon]
            let value = trimmed(field[(colon + 1)...])
            switch name.count {
            case 14 where equalsIgnoringCase(name, "content-length"):
                guard let length = decimal(value), contentLength == nil || contentLength == length else {
                    return refusal("malformed Content-Length")
                }
                contentLength = length
            case 17 where equalsIgnoringCase(name, "transfer-encoding"):
                // Only chunked is understood, and it must be the last coding (RFC 9112 §6.1).
                guard let last = value.split(separator: UInt8(ascii: ",")).last.map(trimmed), equalsIgnoringCase(last, "chunked") else {
                    return .failure(Refusal(response: .error(.notImplemented, "only the chunked transfer coding is supported"), version: version))
                }
                transferEncoding = true
            case 10 where equalsIgnoringCase(name, "connection"):
                for option in value.split(separator: UInt8(ascii: ",")).map(trimmed) {
                    if equalsIgnoringCase(option, "close") { parsed.request.keepAlive = false }
                    if equalsIgnoringCase(option, "keep-alive") { parsed.request.keepAlive = true }
                }
            case 4 where equalsIgnoringCase(name, "host"):
                hosts += 1
            case 6 where equalsIgnoringCase(name, "expect"):
                parsed.expectsContinue = equalsIgnoringCase(value, "100-continue")
            default:
                break
            }
        }
        // RFC 9112 §3.2: more than one Host is answered 400. (A missing one
        // is let pass: devices and load generators on HTTP/1.0 habits omit it.)
        if hosts > 1 { return refusal("more than one Host header field") }
        // Both framings at once is how requests are smuggled: refuse (RFC 9112 §6.3).
        if transferEncoding, contentLength != nil { return refusal("both Transfer-Encoding and Content-Length") }
        parsed.chunked = transferEncoding
        parsed.contentLength = contentLength ?? 0
        return .success(parsed)
    }

    // MARK: Bytes

    /// One line without its CRLF (or bare LF), or nil if no line ends within `limit` bytes.
    static func readLine(_ buffer: inout ByteBuffer, limit: Int) -> ByteBuffer? {
        let view = buffer.readableBytesView.prefix(limit + 2)
        guard let lf = view.firstIndex(of: 10) else { return nil }
        var length = lf - view.startIndex
        let total = length + 1
        if length > 0, view[lf - 1] == 13 { length -= 1 }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        buffer.moveReaderIndex(forwardBy: total)
        return line
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (48...57).contains(byte) ? Int(byte - 48) : nil
    }

    /// A non-negative decimal of at most 18 digits.
    private static func decimal<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard let d = digit(byte) else { return nil }
            value = value * 10 + d
        }
        return value
    }

    /// The chunk size of a chunk-size line, extensions ignored; at most 15 hex digits.
    static func hexSize(_ line: ByteBuffer) -> Int? {
        var view = line.readableBytesView[...]
        if let semicolon = view.firstIndex(of: UInt8(ascii: ";")) { view = view[..<semicolon] }
        let digits = trimmed(view)
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var value = 0
        for byte in digits {
            let nibble: Int
            switch byte {
            case 48...57: nibble = Int(byte - 48)
            case 65...70: nibble = Int(byte - 55)
            case 97...102: nibble = Int(byte - 87)
            default: return nil
            }
            value = value << 4 | nibble
        }
        return value
    }

    private static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        var view = bytes[...]
        while let first = view.first, first == 32 || first == 9 { view = view.dropFirst() }
        while let last = view.last, last == 32 || last == 9 { view = view.dropLast() }
        return view
    }

    private static func equalsIgnoringCase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                // ASCII letters fold to lower case; other bytes must match exactly.
                (65...90).contains(byte) ? byte | 0x20 == wanted : byte == wanted
            }
        }
    }
}

extension HTTPMethod {
    /// The method token as sent; the two the API serves without a string.
    init(bytes: ByteBufferView.SubSequence) {
        if bytes.elementsEqual("POST".utf8) {
            self = .POST
        } else if bytes.elementsEqual("GET".utf8) {
            self = .GET
        } else {
            self = HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
        }
    }
}
