import Foundation

/// The access token of each simulated device: from a pattern with `{n}`
/// (`bench-{n}`: bench-1 … bench-N) or from a file, one token per line.
package enum BenchTokens {
    package struct TokenError: Error, Equatable, CustomStringConvertible {
        package let description: String
    }

    /// The tokens of devices 1…count.
    package static func fromPattern(_ pattern: String, count: Int) throws(TokenError) -> [String] {
        guard pattern.contains("{n}") else { throw TokenError(description: "the token pattern needs {n}: \(pattern)") }
        guard count > 0 else { throw TokenError(description: "the device count must be at least 1") }
        let tokens = (1...count).map { pattern.replacingOccurrences(of: "{n}", with: String($0)) }
        if let bad = tokens.first(where: { !isWellFormed($0) }) {
            throw TokenError(description: "\(bad) is not a token: 1 to 256 characters of A-Z a-z 0-9 - _ . ~")
        }
        return tokens
    }

    /// Non-empty lines of a file (as `--provision` writes it).
    package static func fromFile(_ path: String) throws(TokenError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenError(description: "cannot read \(path)") }
        let tokens = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !tokens.isEmpty else { throw TokenError(description: "\(path) holds no tokens") }
        if let bad = tokens.first(where: { !isWellFormed($0) }) { throw TokenError(description: "\(path): \(bad) is not a token") }
        return tokens
    }

    /// The registry's token alphabet (RFC 3986 unreserved), so a token is
    /// usable in an HTTP or CoAP path and as an MQTT user name.
    static func isWellFormed(_ token: String) -> Bool {
        (1...256).contains(token.utf8.count)
            && token.utf8.allSatisfy { byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "-_.~".utf8.contains(byte)
            }
    }
}
