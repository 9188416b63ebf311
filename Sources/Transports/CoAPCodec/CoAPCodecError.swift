/// Why a datagram is not a valid CoAP message (RFC 7252 §3, §4.2, §4.3).
/// When the 4-byte header could be read, `messageType` and `messageId` say
/// which message it was, so a CON can be answered with a Reset (§4.2: a
/// confirmable message with a format error is rejected with RST).
package struct CoAPCodecError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Reason: Sendable, Equatable {
        /// Fewer than 4 bytes: not even a header.
        case truncatedHeader
        /// Version other than 1: silently ignored (§3).
        case unsupportedVersion(UInt8)
        /// TKL 9–15 is reserved and a message format error (§3).
        case invalidTokenLength(UInt8)
        /// Fewer bytes than the token length says.
        case truncatedToken
        /// A delta nibble of 15 in a byte other than the payload marker 0xFF (§3.1).
        case reservedOptionDelta
        /// A length nibble of 15 (§3.1).
        case reservedOptionLength
        /// The option's extended delta, extended length or value runs past the datagram.
        case truncatedOption
        /// Option number above 65535 after adding the deltas.
        case optionNumberOverflow
        /// A payload marker followed by nothing (§3: a format error).
        case emptyPayloadAfterMarker
        /// Code 0.00 with a token, options or payload (§4.1).
        case nonEmptyEmptyMessage
        /// A token longer than 8 bytes or a header value out of range, when encoding.
        case unencodable(String)
    }

    package let reason: Reason
    package let messageType: CoAPMessageType?
    package let messageId: UInt16?

    package init(_ reason: Reason, messageType: CoAPMessageType? = nil, messageId: UInt16? = nil) {
        self.reason = reason
        self.messageType = messageType
        self.messageId = messageId
    }

    /// §4.2/§4.3: a CON or NON with a format error is rejected; a CON
    /// gets a Reset. A message of another version is ignored without one.
    package var deservesReset: Bool {
        guard messageType == .confirmable, messageId != nil else { return false }
        if case .unsupportedVersion = reason { return false }
        return true
    }

    package var description: String {
        let what: String
        switch reason {
        case .truncatedHeader: what = "shorter than the 4-byte header"
        case .unsupportedVersion(let version): what = "unsupported version \(version)"
        case .invalidTokenLength(let length): what = "token length \(length) is reserved"
        case .truncatedToken: what = "token runs past the end"
        case .reservedOptionDelta: what = "option delta 15 outside the payload marker"
        case .reservedOptionLength: what = "option length 15 is reserved"
        case .truncatedOption: what = "option runs past the end"
        case .optionNumberOverflow: what = "option number above 65535"
        case .emptyPayloadAfterMarker: what = "payload marker without a payload"
        case .nonEmptyEmptyMessage: what = "empty message (0.00) with token, options or payload"
        case .unencodable(let why): what = why
        }
        return messageId.map { "CoAP format error in message \($0): \(what)" } ?? "CoAP format error: \(what)"
    }
}
