import Foundation

/// One record as an independent consumer (kcat) read it.
package struct KafkaRecord: Sendable {
    package let topic: String
    package let partition: Int
    package let offset: Int
    package let key: String
    package let headers: [String: String]
    package let payload: String

    /// The payload parsed as a JSON object.
    package var json: [String: any Sendable] {
        ((try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: any Sendable]) ?? [:]
    }
}

/// Reads every record of `topic` from the beginning to the current end with
/// kcat (`-C -e -J`), a consumer independent of the gateway's own code.
package func readTopic(_ topic: String, bootstrap: String) async throws -> [KafkaRecord] {
    let result = try await runCommand(
        "kcat", ["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q", "-m", "20"])
    guard result.status == 0 else { throw TestFailure("kcat failed (\(result.status)): \(result.stderr)") }
    return try result.stdout.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TestFailure("kcat printed a non-object: \(line)")
        }
        var headers: [String: String] = [:]
        let list = object["headers"] as? [String] ?? []
        for index in stride(from: 0, to: list.count - 1, by: 2) { headers[list[index]] = list[index + 1] }
        return KafkaRecord(
            topic: object["topic"] as? String ?? "",
            partition: object["partition"] as? Int ?? -1,
            offset: object["offset"] as? Int ?? -1,
            key: object["key"] as? String ?? "",
            headers: headers,
            payload: object["payload"] as? String ?? ""
        )
    }
}
