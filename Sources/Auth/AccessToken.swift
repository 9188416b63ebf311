import Crypto

/// Device access tokens: generated from the system's cryptographic random
/// source, stored only as a SHA-256 hash.
package enum AccessToken {
    /// Longest token accepted; ThingsBoard's own are 20 characters.
    package static let maximumLength = 128
    /// Shortest token an operator may choose (ThingsBoard's generated ones
    /// are 20 characters): a short chosen token is guessed, so the admin
    /// API, the CLI and `device import` refuse it. Tokens already in the
    /// registry still authenticate.
    package static let minimumChosenLength = 20

    /// Why an operator's own token is refused, or nil when it is good.
    package static func chosenTokenProblem(_ token: String, allowShort: Bool = false) -> String? {
        guard isWellFormed(token) else {
            return "must be 1 to \(maximumLength) characters of A-Z a-z 0-9 - _ . ~"
        }
        guard allowShort || token.utf8.count >= minimumChosenLength else {
            return "must be at least \(minimumChosenLength) characters (a short token is guessed); leave it out to have one generated"
        }
        return nil
    }

    /// 24 random bytes as base64url: 32 URL-safe characters.
    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return base64URL(bytes)
    }

    /// Lower-case hex SHA-256 of the token's UTF-8 bytes.
    package static func hash(_ token: String) -> String {
        let digest = SHA256.hash(data: Array(token.utf8))
        // Hex digits straight into one String's storage (a String per byte,
        // joined, had been most of the cost of a look-up's hashing).
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: SHA256.byteCount * 2) { buffer in
            var index = 0
            for byte in digest {
                buffer[index] = digits[Int(byte >> 4)]
                buffer[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    /// A token fits in a URL path segment and an MQTT username unchanged:
    /// 1-128 characters of `A-Z a-z 0-9 - _ . ~` (RFC 3986 unreserved).
    package static func isWellFormed(_ token: String) -> Bool {
        let utf8 = token.utf8
        guard !utf8.isEmpty, utf8.count <= maximumLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "."), UInt8(ascii: "~"):
                true
            default: false
            }
        }
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in stride(from: 18, through: 0, by: -6) {
                out.append(alphabet[Int((chunk >> UInt32(shift)) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
