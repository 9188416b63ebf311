import NIOCore

/// An option number (RFC 7252 §5.10, §12.2; RFC 7641 §2; RFC 7959 §2.1, §4).
/// Odd numbers are critical, so an unknown one in a request gets 4.02 (§5.4.1).
package struct CoAPOptionNumber: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    package let rawValue: UInt16

    package init(rawValue: UInt16) { self.rawValue = rawValue }
    package init(_ rawValue: UInt16) { self.rawValue = rawValue }

    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// §5.4.6: bit 0 is "critical".
    package var isCritical: Bool { rawValue & 1 == 1 }
    /// §5.4.6: bit 1 is "unsafe to forward"; bits 2–4 all set is "NoCacheKey".
    package var isUnsafe: Bool { rawValue & 2 == 2 }

    package var description: String { "\(rawValue)" }

    package static let ifMatch = Self(1)
    package static let uriHost = Self(3)
    package static let eTag = Self(4)
    package static let ifNoneMatch = Self(5)
    package static let observe = Self(6)
    package static let uriPort = Self(7)
    package static let locationPath = Self(8)
    package static let uriPath = Self(11)
    package static let contentFormat = Self(12)
    package static let maxAge = Self(14)
    package static let uriQuery = Self(15)
    package static let accept = Self(17)
    package static let locationQuery = Self(20)
    package static let block2 = Self(23)
    package static let block1 = Self(27)
    package static let size2 = Self(28)
    package static let proxyURI = Self(35)
    package static let proxyScheme = Self(39)
    package static let size1 = Self(60)
    /// RFC 7967.
    package static let noResponse = Self(258)

    /// The options this stack understands; a critical option outside this set
    /// in a request is answered 4.02 Bad Option (§5.4.1).
    /// Options that may occur more than once (RFC 7252 Table 4: If-Match,
    /// ETag, Location-Path, Uri-Path, Uri-Query, Location-Query).
    package static let repeatable: Set<CoAPOptionNumber> = [.ifMatch, .eTag, .locationPath, .uriPath, .uriQuery, .locationQuery]

    package static let known: Set<CoAPOptionNumber> = [
        .ifMatch, .uriHost, .eTag, .ifNoneMatch, .observe, .uriPort, .locationPath, .uriPath, .contentFormat,
        .maxAge, .uriQuery, .accept, .locationQuery, .block2, .block1, .size2, .proxyURI, .proxyScheme, .size1,
        .noResponse,
    ]
}

/// One option instance: its number and its value bytes (a slice of the datagram).
package struct CoAPOption: Sendable, Equatable {
    package var number: CoAPOptionNumber
    package var value: ByteBuffer

    package init(_ number: CoAPOptionNumber, _ value: ByteBuffer) {
        self.number = number
        self.value = value
    }

    package init(_ number: CoAPOptionNumber, string: String) {
        self.init(number, ByteBuffer(string: string))
    }

    /// A `uint` option in the fewest bytes, 0 as the empty value (§3.2).
    package init(_ number: CoAPOptionNumber, uint: UInt32) {
        var buffer = ByteBuffer()
        let bytes = (32 - uint.leadingZeroBitCount + 7) / 8
        for index in stride(from: bytes - 1, through: 0, by: -1) {
            buffer.writeInteger(UInt8(truncatingIfNeeded: uint >> (UInt32(index) * 8)))
        }
        self.init(number, buffer)
    }

    /// The value as a `uint` (§3.2): big-endian, at most 4 bytes; nil if longer.
    package var uintValue: UInt32? {
        guard value.readableBytes <= 4 else { return nil }
        return value.readableBytesView.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    package var stringValue: String { String(buffer: value) }
}

/// A Block1 or Block2 option value (RFC 7959 §2.2): block number, "more"
/// flag and size exponent; the block holds 2^(szx+4) bytes.
package struct CoAPBlockOption: Sendable, Equatable, CustomStringConvertible {
    package var number: UInt32
    package var more: Bool
    package var sizeExponent: UInt8

    package init(number: UInt32, more: Bool, sizeExponent: UInt8) {
        self.number = number
        self.more = more
        self.sizeExponent = sizeExponent
    }

    /// Block numbers fit in 20 bits (the option is at most 3 bytes).
    package static let maxNumber: UInt32 = (1 << 20) - 1

    package var size: Int { 1 << (Int(sizeExponent) + 4) }
    package var offset: Int { Int(number) * size }

    /// Parses the option value; nil for SZX 7 (reserved over UDP, §2.2) or a value over 3 bytes.
    package init?(_ option: CoAPOption) {
        guard option.value.readableBytes <= 3, let raw = option.uintValue, raw & 0x7 != 7 else { return nil }
        self.init(number: raw >> 4, more: raw & 0x8 != 0, sizeExponent: UInt8(raw & 0x7))
    }

    package func option(_ number: CoAPOptionNumber) -> CoAPOption {
        CoAPOption(number, uint: self.number << 4 | (more ? 0x8 : 0) | UInt32(sizeExponent))
    }

    /// The exponent for a block size (16 … 1024); sizes are rounded down.
    package static func sizeExponent(forSize size: Int) -> UInt8 {
        var exponent: UInt8 = 6
        while exponent > 0, 1 << (Int(exponent) + 4) > size { exponent -= 1 }
        return exponent
    }

    package var description: String { "\(number)/\(more ? 1 : 0)/\(size)" }
}

/// Content-Format numbers this project uses (RFC 7252 §12.3, OMA LwM2M).
package enum CoAPContentFormat {
    package static let textPlain: UInt32 = 0
    package static let linkFormat: UInt32 = 40
    package static let octetStream: UInt32 = 42
    package static let json: UInt32 = 50
    package static let cbor: UInt32 = 60
    package static let senmlJSON: UInt32 = 110
    package static let senmlCBOR: UInt32 = 112
    package static let lwm2mTLV: UInt32 = 11542
    package static let lwm2mJSON: UInt32 = 11543
}
