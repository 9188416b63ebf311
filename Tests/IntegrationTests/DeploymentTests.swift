import Foundation
import TestSupport
import Testing

@Suite("docker-compose stack and .env.example", .timeLimit(.minutes(2)))
struct DeploymentTests {
    @Test("docker-compose.yml validates with .env.example as its .env")
    func composeValidates() async throws {
        let root = packageRoot()
        let directory = try makeTemporaryDirectory("tb-compose")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = FileManager.default
        for name in ["docker-compose.yml", "Dockerfile"] {
            try files.copyItem(atPath: "\(root)/\(name)", toPath: "\(directory)/\(name)")
        }
        try files.copyItem(atPath: "\(root)/deploy", toPath: "\(directory)/deploy")
        try files.copyItem(atPath: "\(root)/.env.example", toPath: "\(directory)/.env")
        let result = try await runCommand("docker-compose", ["-f", "docker-compose.yml", "config"], directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("KAFKA_BOOTSTRAP_SERVERS: kafka:9092"))
        #expect(result.stdout.contains("apache/kafka"))
        #expect(result.stdout.contains("prom/prometheus"))
    }

    @Test("every variable the compose file references is in .env.example")
    func composeVariables() throws {
        let root = packageRoot()
        let compose = try String(contentsOfFile: root + "/docker-compose.yml", encoding: .utf8)
        let example = try String(contentsOfFile: root + "/.env.example", encoding: .utf8)
        let listed = Set(example.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("=") }.map {
            String($0.split(separator: "=", maxSplits: 1)[0])
        })
        let referenced = Set(compose.matches(of: /\$\{([A-Z0-9_]+)/).map { String($0.1) })
        #expect(!referenced.isEmpty)
        #expect(referenced.subtracting(listed).isEmpty, "not in .env.example: \(referenced.subtracting(listed))")
        // The gateway's own environment overrides are real variables too.
        let gatewayEnvironment = Set(compose.matches(of: /^\s{6}([A-Z0-9_]+):\s/.anchorsMatchLineEndings()).map { String($0.1) })
            .filter { !$0.hasPrefix("KAFKA_NODE") }
        for name in ["KAFKA_BOOTSTRAP_SERVERS", "DATA_DIR", "ADMIN_BIND_ADDRESS"] {
            #expect(gatewayEnvironment.contains(name) && listed.contains(name))
        }
    }

    @Test("every variable in .env.example is read by the code")
    func everyVariableRead() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await runCommand(
            GatewayProcess.binary, ["config", "unread"],
            environment: GatewayProcess.baseEnvironment(directory: directory, kafka: "embedded"), directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty, "listed but never read: \(result.stdout)")
    }
}
