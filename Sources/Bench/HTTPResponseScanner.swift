import NIOCore

/// Finds whole HTTP/1.1 responses in what a `bench http` connection read:
/// the status code and the end of each response, nothing else. The load
/// tool reads only the gateway's answers (a status line, a few headers and
/// a body announced by Content-Length, RFC 9112 §6.3), so a full parser
/// would only spend the CPU the gateway under test needs.
package struct HTTPResponseScanner {
    package enum Failure: Error, Equatable {
        case malformedStatusLine
        case missingContentLength
    }

    private var buffer: ByteBuffer?

    package init() {}

    /// Appends what was read and returns the status codes of the responses
    /// it completed, in order.
    package mutating func scan(_ data: inout ByteBuffer) throws(Failure) -> [Int] {
        if buffer == nil || buffer!.readableBytes == 0 {
            buffer = data
        } else {
            buffer!.writeBuffer(&data)
        }
        var statuses: [Int] = []
        while let status = try next() { statuses.append(status) }
        if buffer?.readableBytes == 0 { buffer = nil }
        return statuses
    }

    /// One complete response off the front of the buffer, or nil if it is not all here.
    private mutating func next() throws(Failure) -> Int? {
        guard let view = buffer?.readableBytesView, let headEnd = Self.headEnd(view) else { return nil }
        let head = view[view.startIndex..<headEnd]
        // "HTTP/1.1 200 OK": the three digits after the first space.
        guard let space = head.firstIndex(of: UInt8(ascii: " ")), head.index(space, offsetBy: 4) <= head.endIndex else {
            throw .malformedStatusLine
        }
        var status = 0
        for byte in head[(space + 1)..<(space + 4)] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { throw .malformedStatusLine }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        // 1xx answers have no body and precede the real one (RFC 9110 §15.2).
        let length: Int
        if status < 200 || status == 204 || status == 304 {
            length = 0
        } else {
            guard let announced = Self.contentLength(head) else { throw .missingContentLength }
            length = announced
        }
        let total = headEnd - view.startIndex + 4 + length
        guard buffer!.readableBytes >= total else { return nil }
        buffer!.moveReaderIndex(forwardBy: total)
        return status < 200 ? try next() : status
    }

    /// The index of the CRLFCRLF that ends the header section.
    private static func headEnd(_ view: ByteBufferView) -> ByteBufferView.Index? {
        var index = view.startIndex
        while index + 3 < view.endIndex {
            if view[index] == 13, view[index + 1] == 10, view[index + 2] == 13, view[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// Content-Length from the header lines, the name compared without case.
    private static func contentLength(_ head: ByteBufferView.SubSequence) -> Int? {
        let name = Array("content-length:".utf8)
        var lineStart = head.startIndex
        while lineStart < head.endIndex {
            let lineEnd = head[lineStart...].firstIndex(of: 10) ?? head.endIndex
            let line = head[lineStart..<lineEnd]
            if line.count > name.count,
                zip(line.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == $1 })
            {
                var value = 0
                var digits = 0
                for byte in line.dropFirst(name.count) where byte != 32 && byte != 9 && byte != 13 {
                    // 18 digits at most: more would overflow Int.
                    guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < 18 else { return nil }
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}
