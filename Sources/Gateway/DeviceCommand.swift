import ArgumentParser
import Auth
import Foundation
import ProcessorAPI

/// `tb-gateway device …`: provisioning against the registry in DATA_DIR. A
/// running gateway sees the change within a second (RegistryWatcher).
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Provision and manage devices in the registry.",
        subcommands: [Add.self, Import.self, List.self, Show.self, RotateToken.self, Disable.self, Enable.self, Remove.self, SetLwM2MEndpoint.self]
    )

    struct Options: ParsableArguments {
        @Flag(help: "Print JSON instead of text.")
        var json = false
    }

    static func openRegistry() throws -> DeviceRegistry {
        let (_, configuration) = try loadConfiguration()
        do {
            return try DeviceRegistry(directory: configuration.dataDirectory)
        } catch {
            printError("cannot open the device registry: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs a registry call; a registry error becomes one line and exit 1.
    static func perform<T>(_ body: () async throws(RegistryError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    static func find(_ registry: DeviceRegistry, _ name: String) async throws -> Device {
        guard let device = try await perform({ () async throws(RegistryError) in try await registry.device(named: name) }) else {
            printError("no device named '\(name)'")
            throw ExitCode(1)
        }
        return device
    }

    /// The admin API's device JSON, so scripts read one format.
    static func json(_ device: Device, token: String? = nil) -> String {
        AdminResponses.device(device, token: token)
    }

    static func text(_ device: Device) -> String {
        """
        name:          \(device.name)
        id:            \(device.id)
        type:          \(device.type)
        enabled:       \(device.enabled)
        last activity: \(device.lastActivityAt.map { String($0) } ?? "never")
        """
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a device; prints its access token once.")
        @Argument(help: "Unique device name.") var name: String
        @Option(help: "Device type.") var type = "default"
        @Option(help: "Use this access token instead of a generated one.") var token: String?
        @Option(name: .customLong("lwm2m-endpoint"), help: "The LwM2M endpoint client name the device registers with.")
        var lwm2mEndpoint: String?
        @OptionGroup var options: Options

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let (device, token) = try await perform { () async throws(RegistryError) in
                let created = try await registry.createDevice(name: name, type: type, token: self.token)
                if let endpoint = lwm2mEndpoint {
                    do throws(RegistryError) {
                        try await registry.setLwM2MEndpoint(deviceId: created.device.id, endpoint: endpoint)
                    } catch {
                        try? await registry.removeDevice(id: created.device.id)
                        throw error
                    }
                }
                return created
            }
            if options.json {
                print(DeviceCommand.json(device, token: token))  // allowed: CLI output
            } else {
                print(DeviceCommand.text(device))  // allowed: CLI output
                print("access token:  \(token)")  // allowed: CLI output
                print("(the token is shown only now; the registry keeps its SHA-256 hash)")  // allowed: CLI output
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create many devices from CSV lines 'name[,type[,token]]'; prints 'name,token' for each.")
        @Argument(help: "CSV file, or - for standard input.") var file: String
        @Flag(help: "Accept given tokens shorter than 20 characters (load-test registries only).") var allowShortTokens = false

        func run() async throws {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                    printError("cannot read \(file)")
                    throw ExitCode(1)
                }
                text = contents
            }
            let registry = try DeviceCommand.openRegistry()
            for (number, line) in text.split(separator: "\n").enumerated() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard let name = fields.first, !name.isEmpty, !name.hasPrefix("#") else { continue }
                let type = fields.count > 1 && !fields[1].isEmpty ? fields[1] : "default"
                let given = fields.count > 2 && !fields[2].isEmpty ? fields[2] : nil
                do {
                    let (_, token) = try await registry.createDevice(name: name, type: type, token: given, allowShortToken: allowShortTokens)
                    print("\(name),\(token)")  // allowed: CLI output
                } catch {
                    printError("line \(number + 1): \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List devices.")
        @OptionGroup var options: Options

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let devices = try await perform { () async throws(RegistryError) in try await registry.listDevices(limit: Int.max) }
            if options.json {
                print("[" + devices.map { DeviceCommand.json($0) }.joined(separator: ",") + "]")  // allowed: CLI output
                return
            }
            for device in devices {
                print("\(device.name)\t\(device.type)\t\(device.enabled ? "enabled" : "disabled")\t\(device.id)")  // allowed: CLI output
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one device.")
        @Argument var name: String
        @OptionGroup var options: Options

        func run() async throws {
            let device = try await DeviceCommand.find(try DeviceCommand.openRegistry(), name)
            print(options.json ? DeviceCommand.json(device) : DeviceCommand.text(device))  // allowed: CLI output
        }
    }

    struct RotateToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-token", abstract: "Replace a device's access token; the old one stops working.")
        @Argument var name: String
        @Option(help: "Use this access token instead of a generated one.") var token: String?
        @OptionGroup var options: Options

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let device = try await DeviceCommand.find(registry, name)
            let token = try await perform { () async throws(RegistryError) in
                try await registry.rotateToken(deviceId: device.id, token: self.token)
            }
            print(options.json ? DeviceCommand.json(device, token: token) : "access token:  \(token)")  // allowed: CLI output
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse the device's connections.")
        @Argument var name: String

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let device = try await DeviceCommand.find(registry, name)
            _ = try await perform { () async throws(RegistryError) in try await registry.updateDevice(id: device.id, enabled: false) }
            print("device '\(name)' disabled")  // allowed: CLI output
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept the device's connections again.")
        @Argument var name: String

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let device = try await DeviceCommand.find(registry, name)
            _ = try await perform { () async throws(RegistryError) in try await registry.updateDevice(id: device.id, enabled: true) }
            print("device '\(name)' enabled")  // allowed: CLI output
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a device, its credentials and attributes.")
        @Argument var name: String

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let device = try await DeviceCommand.find(registry, name)
            try await perform { () async throws(RegistryError) in try await registry.removeDevice(id: device.id) }
            print("device '\(name)' removed")  // allowed: CLI output
        }
    }
}

extension DeviceCommand {
    struct SetLwM2MEndpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-lwm2m-endpoint", abstract: "Set or clear the LwM2M endpoint client name of a device.")
        @Argument(help: "Device name.") var name: String
        @Argument(help: "Endpoint client name; empty to remove.") var endpoint: String

        func run() async throws {
            let registry = try DeviceCommand.openRegistry()
            let device = try await DeviceCommand.find(registry, name)
            try await perform { () async throws(RegistryError) in
                try await registry.setLwM2MEndpoint(deviceId: device.id, endpoint: endpoint.isEmpty ? nil : endpoint)
            }
            print(endpoint.isEmpty ? "LwM2M endpoint removed from \(name)" : "\(name) registers over LwM2M as '\(endpoint)'")  // allowed: CLI output
        }
    }
}
