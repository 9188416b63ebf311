/// The routes of the ThingsBoard HTTP device API, parsed from the request
/// target without a router: `/api/v1/{token}/telemetry` and friends.
enum DeviceHTTPRoute: Equatable {
    case telemetry(token: String)
    case attributes(token: String)
    /// `/api/v1/{token}/attributes/updates?timeout=MS`: long-poll for shared-attribute changes.
    case attributeUpdates(token: String)
    /// `/api/v1/{token}/rpc`: GET long-polls for server-side RPC, POST is client-side RPC.
    case rpc(token: String)
    /// `/api/v1/{token}/rpc/{id}`: the reply to server-side RPC `id`.
    case rpcReply(token: String, id: String)
    case health

    /// The route and the query string, or nil for an unknown path.
    static func parse(_ uri: String) -> (route: DeviceHTTPRoute, query: Substring)? {
        let path: Substring
        let query: Substring
        if let mark = uri.firstIndex(of: "?") {
            path = uri[..<mark]
            query = uri[uri.index(after: mark)...]
        } else {
            path = Substring(uri)
            query = ""
        }
        if path == "/health" { return (.health, query) }
        // "/api/v1/" token "/" resource, scanned in place: this runs for every request.
        guard path.hasPrefix("/api/v1/") else { return nil }
        let rest = path.dropFirst(8)
        guard let slash = rest.firstIndex(of: "/"), slash > rest.startIndex else { return nil }
        let token = String(rest[..<slash])
        let resource = rest[rest.index(after: slash)...]
        switch resource {
        case "telemetry": return (.telemetry(token: token), query)
        case "attributes": return (.attributes(token: token), query)
        case "attributes/updates": return (.attributeUpdates(token: token), query)
        case "rpc": return (.rpc(token: token), query)
        default:
            guard resource.hasPrefix("rpc/") else { return nil }
            let id = resource.dropFirst(4)
            guard !id.isEmpty, !id.contains("/") else { return nil }
            return (.rpcReply(token: token, id: String(id)), query)
        }
    }

    /// One query parameter's raw value.
    static func value(_ name: String, in query: Substring) -> Substring? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2, parts[0] == name { return parts[1] }
        }
        return nil
    }

    /// The comma-separated values of one query parameter, percent-decoded.
    static func list(_ name: String, in query: Substring) -> [String]? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            let value = String(parts[1]).replacingPlus().removingPercentEncodingLenient()
            return value.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        }
        return nil
    }
}

extension String {
    func replacingPlus() -> String {
        String(map { $0 == "+" ? " " : $0 })
    }

    /// Percent-decoding that leaves malformed escapes as they are.
    func removingPercentEncodingLenient() -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
