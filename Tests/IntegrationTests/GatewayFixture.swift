import Foundation
import KafkaSink
import TestSupport
import Testing

/// A gateway subprocess wired to a mock Kafka cluster owned by the test.
struct GatewayFixture {
    let kafka: EmbeddedKafkaCluster
    let gateway: GatewayProcess
    let directory: String

    static let topics = ["tb.telemetry", "tb.attributes", "tb.events", "tb.rpc", "tb.commands"]

    /// `files` are written into DATA_DIR before the gateway starts.
    static func start(_ extra: [String: String] = [:], files: [String: String] = [:]) async throws -> GatewayFixture {
        let kafka = try EmbeddedKafkaCluster(topics: topics, partitions: 2)
        let directory = try makeTemporaryDirectory()
        if !files.isEmpty { try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true) }
        for (name, content) in files {
            try content.write(toFile: directory + "/data/" + name, atomically: true, encoding: .utf8)
        }
        var environment = GatewayProcess.baseEnvironment(directory: directory, kafka: kafka.bootstrapServers)
        environment.merge(extra) { $1 }
        let gateway = GatewayProcess(directory: directory, environment: environment)
        try await gateway.start()
        return GatewayFixture(kafka: kafka, gateway: gateway, directory: directory)
    }

    /// Provisions a device with the CLI; returns its id and token.
    func addDevice(_ name: String, type: String = "sensor", token: String? = nil) async throws -> (id: String, token: String) {
        var arguments = ["device", "add", name, "--type", type, "--json"]
        if let token { arguments += ["--token", token] }
        let result = try await gateway.cli(arguments)
        try #require(result.status == 0, "device add failed: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        return (try #require(object["id"] as? String), try #require(object["token"] as? String))
    }

    func post(_ path: String, _ body: String, headers: [String: String] = [:]) async throws -> HTTPAnswer {
        try await curl("POST", gateway.baseURL + path, body: body, headers: headers)
    }

    func stop() async throws {
        let status = try await gateway.terminate()
        #expect(status == 0, "gateway exit status")
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Milliseconds since the epoch, for bounding receive times.
func nowMilliseconds() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}
