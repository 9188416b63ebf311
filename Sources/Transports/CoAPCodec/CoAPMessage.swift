import NIOCore

/// The four message types of RFC 7252 §3 (the T field).
package enum CoAPMessageType: UInt8, Sendable, Hashable, CustomStringConvertible {
    case confirmable = 0
    case nonConfirmable = 1
    case acknowledgement = 2
    case reset = 3

    package var description: String {
        switch self {
        case .confirmable: "CON"
        case .nonConfirmable: "NON"
        case .acknowledgement: "ACK"
        case .reset: "RST"
        }
    }
}

/// A request method or response code: class (3 bits) and detail (5 bits),
/// written `c.dd` (RFC 7252 §3, §12.1).
package struct CoAPCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    package let rawValue: UInt8

    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package init(_ codeClass: UInt8, _ detail: UInt8) { rawValue = codeClass << 5 | (detail & 0x1F) }

    package var codeClass: UInt8 { rawValue >> 5 }
    package var detail: UInt8 { rawValue & 0x1F }

    /// 0.00: an empty message (only ACK or RST, or a CON "ping"), §4.1.
    package var isEmpty: Bool { rawValue == 0 }
    /// 0.01–0.31: a request.
    package var isRequest: Bool { codeClass == 0 && detail != 0 }
    /// 2.xx, 4.xx, 5.xx: a response (§5.9); 1.xx, 3.xx, 6.xx and 7.xx are reserved.
    package var isResponse: Bool { codeClass == 2 || codeClass == 4 || codeClass == 5 }
    package var isSuccess: Bool { codeClass == 2 }

    package var description: String {
        "\(codeClass).\(detail < 10 ? "0" : "")\(detail)"
    }

    package static let empty = CoAPCode(0, 0)
    // Methods, §12.1.1 (FETCH/PATCH are RFC 8132).
    package static let get = CoAPCode(0, 1)
    package static let post = CoAPCode(0, 2)
    package static let put = CoAPCode(0, 3)
    package static let delete = CoAPCode(0, 4)
    package static let fetch = CoAPCode(0, 5)
    package static let patch = CoAPCode(0, 6)
    package static let iPatch = CoAPCode(0, 7)
    // Responses, §12.1.2 and RFC 7959 §2.9.
    package static let created = CoAPCode(2, 1)
    package static let deleted = CoAPCode(2, 2)
    package static let valid = CoAPCode(2, 3)
    package static let changed = CoAPCode(2, 4)
    package static let content = CoAPCode(2, 5)
    package static let `continue` = CoAPCode(2, 31)
    package static let badRequest = CoAPCode(4, 0)
    package static let unauthorized = CoAPCode(4, 1)
    package static let badOption = CoAPCode(4, 2)
    package static let forbidden = CoAPCode(4, 3)
    package static let notFound = CoAPCode(4, 4)
    package static let methodNotAllowed = CoAPCode(4, 5)
    package static let notAcceptable = CoAPCode(4, 6)
    package static let requestEntityIncomplete = CoAPCode(4, 8)
    package static let preconditionFailed = CoAPCode(4, 12)
    package static let requestEntityTooLarge = CoAPCode(4, 13)
    package static let unsupportedContentFormat = CoAPCode(4, 15)
    package static let tooManyRequests = CoAPCode(4, 29)
    package static let internalServerError = CoAPCode(5, 0)
    package static let notImplemented = CoAPCode(5, 1)
    package static let badGateway = CoAPCode(5, 2)
    package static let serviceUnavailable = CoAPCode(5, 3)
    package static let gatewayTimeout = CoAPCode(5, 4)
}

/// A token of 0 to 8 bytes (RFC 7252 §5.3.1), held in a word so matching
/// and hashing cost no allocation.
package struct CoAPToken: Sendable, Hashable, CustomStringConvertible {
    /// The bytes, big-endian in the low `length` bytes.
    package let value: UInt64
    package let length: UInt8

    package init(value: UInt64, length: UInt8) {
        precondition(length <= 8, "a CoAP token is at most 8 bytes")
        self.length = length
        self.value = length == 8 ? value : value & ((1 << (UInt64(length) * 8)) - 1)
    }

    package init<Bytes: Collection<UInt8>>(bytes: Bytes) {
        precondition(bytes.count <= 8, "a CoAP token is at most 8 bytes")
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        self.init(value: value, length: UInt8(bytes.count))
    }

    package static let empty = CoAPToken(value: 0, length: 0)

    package var bytes: [UInt8] {
        (0..<Int(length)).map { UInt8(truncatingIfNeeded: value >> (UInt64(Int(length) - 1 - $0) * 8)) }
    }

    package var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// One CoAP message (RFC 7252 §3). Options are kept in the order they are
/// added; the encoder sorts them by number (stable, so repeated options keep
/// their order, §5.4.5). The payload is a slice of the datagram, not a copy.
package struct CoAPMessage: Sendable, Equatable {
    package var type: CoAPMessageType
    package var code: CoAPCode
    package var messageId: UInt16
    package var token: CoAPToken
    package var options: [CoAPOption]
    package var payload: ByteBuffer

    package init(
        type: CoAPMessageType,
        code: CoAPCode,
        messageId: UInt16,
        token: CoAPToken = .empty,
        options: [CoAPOption] = [],
        payload: ByteBuffer = ByteBuffer()
    ) {
        self.type = type
        self.code = code
        self.messageId = messageId
        self.token = token
        self.options = options
        self.payload = payload
    }

    /// An empty ACK or RST for `messageId` (§4.1, §4.2).
    package static func empty(_ type: CoAPMessageType, messageId: UInt16) -> CoAPMessage {
        CoAPMessage(type: type, code: .empty, messageId: messageId)
    }
}
