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
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "api", "v1", token, resource
        guard (5...6).contains(parts.count), parts[0].isEmpty, parts[1] == "api", parts[2] == "v1", !parts[3].isEmpty else { return nil }
        let token = String(parts[3])
        switch (parts[4], parts.count == 6 ? parts[5] : nil) {
        case ("telemetry", nil): return (.telemetry(token: token), query)
        case ("attributes", nil): return (.attributes(token: token), query)
        case ("attributes", "updates"): return (.attributeUpdates(token: token), query)
        case ("rpc", nil): return (.rpc(token: token), query)
        case ("rpc", let id?) where !id.isEmpty: return (.rpcReply(token: token, id: String(id)), query)
        default: return nil
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
