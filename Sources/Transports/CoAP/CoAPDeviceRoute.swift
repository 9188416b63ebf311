/// The resources of the ThingsBoard CoAP device API, from the Uri-Path
/// options: `/api/v1/{token}/telemetry`, `/attributes`, `/rpc`, `/rpc/{id}`.
enum CoAPDeviceRoute: Equatable {
    case telemetry(token: String)
    case attributes(token: String)
    case rpc(token: String)
    case rpcReply(token: String, id: String)

    init?(path: [String]) {
        guard path.count >= 4, path[0] == "api", path[1] == "v1", !path[2].isEmpty else { return nil }
        let token = path[2]
        switch (path[3], path.count) {
        case ("telemetry", 4): self = .telemetry(token: token)
        case ("attributes", 4): self = .attributes(token: token)
        case ("rpc", 4): self = .rpc(token: token)
        case ("rpc", 5) where !path[4].isEmpty: self = .rpcReply(token: token, id: path[4])
        default: return nil
        }
    }

    var token: String {
        switch self {
        case .telemetry(let token), .attributes(let token), .rpc(let token), .rpcReply(let token, _): token
        }
    }
}

/// The comma-separated values of one Uri-Query parameter (`clientKeys=a,b`).
func queryList(_ name: String, in query: [String]) -> [String]? {
    for item in query {
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == name else { continue }
        return parts[1].split(separator: ",").map { String($0).trimmingCharacters() }.filter { !$0.isEmpty }
    }
    return nil
}

extension String {
    func trimmingCharacters() -> String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
