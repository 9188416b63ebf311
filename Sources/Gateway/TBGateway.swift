import ArgumentParser
import Foundation

/// `tb-gateway`: runs the gateway (the default), checks configuration and
/// manages devices in the registry.
@main
struct TBGateway: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "tb-gateway",
        abstract: "Multi-protocol IoT transport gateway for the ThingsBoard device API.",
        version: version,
        subcommands: [RunCommand.self, ConfigCommand.self, DeviceCommand.self, BenchCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// Loads and validates the configuration; on error prints one line and
/// exits with status 2.
func loadConfiguration() throws -> (ConfigurationSource, GatewayConfiguration) {
    do {
        let source = try ConfigurationSource.process()
        return (source, try GatewayConfiguration(source))
    } catch let error as ConfigurationError {
        printError(error.description)
        throw ExitCode(2)
    } catch {
        printError("invalid configuration: \(error)")
        throw ExitCode(2)
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the gateway (the default).")

    func run() async throws {
        let (_, configuration) = try loadConfiguration()
        try await GatewayApp(configuration: configuration).run()
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration.",
        subcommands: [Check.self, EnvExample.self, AdminRoutes.self, Unread.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration and print the effective values, secrets masked.")

        func run() async throws {
            let (source, _) = try loadConfiguration()
            for line in GatewayConfiguration.describe(source) { print(line) }  // allowed: CLI output
        }
    }

    struct Unread: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List variables of .env.example that loading the configuration did not read (for tests).",
            shouldDisplay: false)

        func run() async throws {
            let (source, _) = try loadConfiguration()
            let read = source.reads.all
            for variable in ConfigurationVariables.all where !read.contains(variable.name) { print(variable.name) }  // allowed: CLI output
        }
    }

    struct AdminRoutes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "admin-routes", abstract: "List the admin API's routes (METHOD PATH, OpenAPI form).",
            shouldDisplay: false)

        func run() async throws {
            for route in AdminAPI.routes { print("\(route.method) \(route.openAPIPath)") }  // allowed: CLI output
        }
    }

    struct EnvExample: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "env-example", abstract: "Print .env.example: every variable with its default.")

        func run() async throws {
            print(ConfigurationVariables.envExample(), terminator: "")  // allowed: CLI output
        }
    }
}
