/// The `host[:port]` part of a URI such as `coap://host:5683` or
/// `mqtts://[::1]:8883/` (RFC 3986 §3.2.2: IPv6 literals in brackets).
package enum HostPort {
    /// The authority after the scheme, with an optional trailing slash; nil
    /// for a path, user info, an empty host or a port outside 1-65535.
    package static func parse(_ authority: Substring, defaultPort: Int) -> (host: String, port: Int)? {
        var rest = authority
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@") else { return nil }
        let host: Substring
        let tail: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            tail = rest[rest.index(after: close)...]
        } else if let colon = rest.firstIndex(of: ":") {
            (host, tail) = (rest[..<colon], rest[colon...])
        } else {
            (host, tail) = (rest, "")
        }
        guard !host.isEmpty else { return nil }
        if tail.isEmpty { return (String(host), defaultPort) }
        guard tail.hasPrefix(":"), let port = Int(tail.dropFirst()), (1...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
