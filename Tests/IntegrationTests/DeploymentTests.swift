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

    @Test("the image's runtime stage installs the package of every C library the binary links")
    func imageRuntimeLibraries() async throws {
        // The image is built, not tested here (no Docker engine): a library
        // missing from the runtime stage would only show at `docker run`.
        let dockerfile = try String(contentsOfFile: packageRoot() + "/Dockerfile", encoding: .utf8)
        let runtimeStage = try #require(dockerfile.components(separatedBy: "\nFROM ").last)
        let install = try #require(runtimeStage.firstMatch(of: /--no-install-recommends\s*\\?\s*\n?\s*([^\n&]+)/))
        let installed = Set(install.1.split(separator: " ").map(String.init))
        // In debian:bookworm-slim already (Priority: required).
        let baseImage: Set<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]

        let dynamic = try await runCommand("readelf", ["-d", GatewayProcess.binary])
        #expect(dynamic.status == 0, "\(dynamic.stderr)")
        let needed = dynamic.stdout.matches(of: /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/).map { String($0.1) }
        let resolved = try await runCommand("ldd", [GatewayProcess.binary])
        var packages: [String: String] = [:]
        for library in needed {
            let line = resolved.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(library + " ") }
            let path = line.flatMap { $0.firstMatch(of: /=> (\S+)/) }.map { String($0.1) } ?? "/lib/x86_64-linux-gnu/\(library)"
            // The Swift runtime comes from the toolchain; the image links it statically (--static-swift-stdlib).
            if !path.hasPrefix("/lib/"), !path.hasPrefix("/usr/lib/") { continue }
            var owner = try await runCommand("dpkg", ["-S", path])
            if owner.status != 0 {
                // usrmerge: dpkg may list the file under the other of /lib and /usr/lib.
                let other = path.hasPrefix("/usr/") ? String(path.dropFirst(4)) : "/usr" + path
                owner = try await runCommand("dpkg", ["-S", other])
            }
            #expect(owner.status == 0, "no package owns \(path)")
            packages[library] = owner.stdout.split(separator: ":").first.map(String.init)
        }
        #expect(packages["librdkafka.so.1"] == "librdkafka1" && packages["libmimalloc.so.2"] == "libmimalloc2.0")
        for (library, package) in packages.sorted(by: { $0.key < $1.key }) {
            #expect(installed.contains(package) || baseImage.contains(package), "\(library) comes from \(package), which the runtime stage does not install")
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
