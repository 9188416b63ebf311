import Foundation

/// An HTTP answer as curl saw it.
package struct HTTPAnswer: Sendable {
    package let status: Int
    package let body: String
    package let headers: [String: String]
}

/// One request with curl, an HTTP client independent of the gateway.
package func curl(
    _ method: String,
    _ url: String,
    body: String? = nil,
    headers: [String: String] = [:]
) async throws -> HTTPAnswer {
    var arguments = ["-s", "-S", "-X", method, "--max-time", "30", "-D", "-", url]
    for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
    var input: Data?
    if let body {
        arguments += ["--data-binary", "@-", "-H", "Content-Type: application/json"]
        input = Data(body.utf8)
    }
    let result = try await runCommand("curl", arguments, input: input)
    guard result.status == 0 else { throw TestFailure("curl \(method) \(url) failed: \(result.stderr)") }
    // -D - writes the response head before the body.
    let text = result.stdout
    guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no HTTP head in: \(text)") }
    let head = text[..<split.lowerBound].split(separator: "\r\n")
    let status = head.first.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    var parsed: [String: String] = [:]
    for line in head.dropFirst() {
        if let colon = line.firstIndex(of: ":") {
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return HTTPAnswer(status: status, body: String(text[split.upperBound...]), headers: parsed)
}
