import ArgumentParser
import Auth
import Bench
import Foundation
import MQTTCodec
import NIOSSL
import ProcessorAPI

/// The options every load driver shares: devices and their tokens, how
/// much to send, the payload, the output.
struct LoadArguments: ParsableArguments {
    @Option(help: "Token pattern with {n}, for devices 1 to --devices.")
    var tokensPattern = "bench-{n}"

    @Option(help: "How many simulated devices (tokens from the pattern).")
    var devices = 100

    @Option(help: "A file of tokens, one per line, instead of the pattern.")
    var tokensFile: String?

    @Flag(help: "Create the devices in the registry (DATA_DIR) first, named after their tokens; existing ones are kept.")
    var provision = false

    @Option(help: "Messages in all (default 10,000 unless --duration).")
    var count: Int?

    @Option(help: "Seconds to run instead of a count.")
    var duration: Double?

    @Option(help: "Messages per second over all devices (default: unthrottled).")
    var rate: Double?

    @Option(help: "Payload template with {seq}, {ts}, {device}.")
    var template = BenchTemplate.defaultText

    @Option(help: "Pad the payload to this many bytes.")
    var size: Int?

    @Option(help: "Write '<token> <seq>' for every acknowledged message to this file (for bench verify --acknowledged).")
    var acknowledged: String?

    @Flag(help: "One JSON object instead of text.")
    var json = false

    @Flag(help: "No progress line every second (on standard error).")
    var quiet = false

    /// Host and port from `scheme://host[:port]`, or exit 2 naming the option.
    func endpoint(_ url: String, schemes: [String: Int], command: String) throws -> (scheme: String, host: String, port: Int) {
        for (scheme, defaultPort) in schemes where url.hasPrefix(scheme + "://") {
            if let (host, port) = HostPort.parse(url.dropFirst(scheme.count + 3), defaultPort: defaultPort) { return (scheme, host, port) }
        }
        printError("bench \(command): --url \(url) is not \(schemes.keys.sorted().map { $0 + "://host:port" }.joined(separator: " or "))")
        throw ExitCode(2)
    }

    /// The load options; provisions the devices first when asked.
    func options(command: String, host: String, port: Int, connections: Int?) async throws -> LoadOptions {
        let tokens: [String]
        let payload: BenchTemplate
        do {
            tokens = try tokensFile.map { path throws(BenchTokens.TokenError) in try BenchTokens.fromFile(path) }
                ?? BenchTokens.fromPattern(tokensPattern, count: devices)
            payload = try BenchTemplate(template, size: size)
        } catch {
            printError("bench \(command): \(error)")
            throw ExitCode(2)
        }
        if provision { try await Self.provision(tokens) }
        var options = LoadOptions(
            host: host, port: port, tokens: tokens, connections: connections ?? tokens.count,
            count: count ?? (duration == nil ? 10_000 : nil), duration: duration.map { .seconds($0) }, rate: rate, template: payload)
        options.recordAcknowledged = acknowledged != nil
        return options
    }

    func progress(_ command: String) -> (@Sendable (String) -> Void)? {
        let report: @Sendable (String) -> Void = { @Sendable line in printError("bench \(command): " + line) }
        return quiet ? nil : report
    }

    func print(_ result: LoadResult, command: String) throws {
        if let acknowledged {
            guard FileManager.default.createFile(atPath: acknowledged, contents: Data(result.acknowledgedLines.utf8)) else {
                printError("bench \(command): cannot write \(acknowledged)")
                throw ExitCode(2)
            }
        }
        Swift.print(json ? result.json : "bench \(command): " + result.json)  // allowed: CLI output
    }

    /// Devices named after their tokens, in the registry of DATA_DIR.
    static func provision(_ tokens: [String]) async throws {
        let (_, configuration) = try loadConfiguration()
        let registry = try DeviceRegistry(directory: configuration.dataDirectory)
        var created = 0
        for token in tokens where try await registry.device(named: token) == nil {
            // Load-test devices named after their tokens (bench-1 …): short
            // on purpose, in a registry of the bench's own.
            _ = try await registry.createDevice(name: token, type: "bench", token: token, allowShortToken: true)
            created += 1
        }
        printError("bench: \(created) devices provisioned, \(tokens.count - created) already there")
    }
}

extension BenchCommand {
    /// `bench mqtt`: one connection per device, token as user name.
    struct MQTT: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mqtt",
            abstract: "MQTT telemetry load: one connection per device, QoS 0/1/2 with an in-flight window, 3.1.1 or 5.0, TLS.")

        @Option(help: "The gateway's MQTT listener, mqtt://host:port or mqtts://host:port.")
        var url = "mqtt://127.0.0.1:1883"

        @Option(help: "QoS of the PUBLISHes: 0, 1 or 2.")
        var qos = 1

        @Option(help: "QoS 1/2 PUBLISHes a connection may have unacknowledged.")
        var window = 16

        @Option(help: "MQTT version: 3.1.1 or 5.")
        var protocolVersion = "3.1.1"

        @Option(help: "Keep alive in seconds (PINGREQ at this period).")
        var keepAlive = 60

        @Flag(help: "Connect every device, hold the connections for --duration, publish nothing.")
        var idle = false

        @Option(help: "Connections being set up at once.")
        var connectConcurrency = 200

        @Option(help: "Seconds to wait for outstanding acknowledgements at the end.")
        var drain = 10.0

        @Option(help: "Topic to publish to.")
        var topic = "v1/devices/me/telemetry"

        @Option(help: "mqtts: CA certificate (PEM) to verify the gateway with.")
        var caFile: String?

        @Flag(help: "mqtts: do not verify the gateway's certificate.")
        var insecure = false

        @OptionGroup var load: LoadArguments

        func run() async throws {
            let (scheme, host, port) = try load.endpoint(url, schemes: ["mqtt": 1883, "mqtts": 8883], command: "mqtt")
            guard let level = MQTTQoS(rawValue: UInt8(clamping: qos)), (0...2).contains(qos) else {
                printError("bench mqtt: --qos \(qos) is not 0, 1 or 2")
                throw ExitCode(2)
            }
            let version: MQTTProtocolVersion
            switch protocolVersion {
            case "3.1.1", "311", "4": version = .v311
            case "5", "5.0": version = .v5
            default:
                printError("bench mqtt: --protocol-version \(protocolVersion) is not 3.1.1 or 5")
                throw ExitCode(2)
            }
            guard (0...65535).contains(keepAlive) else {
                printError("bench mqtt: --keep-alive \(keepAlive) is not 0 to 65535")
                throw ExitCode(2)
            }
            guard !topic.isEmpty, topic.utf8.count <= 65535 else {
                printError("bench mqtt: --topic must be 1 to 65,535 bytes of UTF-8 (MQTT 5.0 §1.5.4)")
                throw ExitCode(2)
            }
            let tls = scheme == "mqtts" ? try tlsContext() : nil
            var options = try await load.options(command: "mqtt", host: host, port: port, connections: nil)
            if idle, load.duration == nil { options.duration = .seconds(10) }
            let mqtt = MQTTLoadOptions(
                load: options, qos: level, window: window, version: version, tls: tls, keepAlive: UInt16(keepAlive), idle: idle,
                connectConcurrency: connectConcurrency, drain: .seconds(drain), topic: topic)
            try load.print(try await MQTTLoad.run(mqtt, progress: load.progress("mqtt")), command: "mqtt")
        }

        private func tlsContext() throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if insecure { configuration.certificateVerification = .none }
            if let caFile { configuration.trustRoots = .file(caFile) }
            do {
                return try NIOSSLContext(configuration: configuration)
            } catch {
                printError("bench mqtt: TLS: \(error)")
                throw ExitCode(2)
            }
        }
    }

    /// `bench http`: POSTs telemetry over keep-alive connections, one
    /// request at a time per connection, and reports what was acknowledged.
    struct HTTP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "http", abstract: "HTTP telemetry load: N keep-alive connections posting for their devices in turn.")

        @Option(help: "The gateway's HTTP device API, http://host:port.")
        var url = "http://127.0.0.1:8081"

        @Option(help: "Concurrent connections.")
        var connections = 64

        @OptionGroup var load: LoadArguments

        func run() async throws {
            let (_, host, port) = try load.endpoint(url, schemes: ["http": 80], command: "http")
            let options = try await load.options(command: "http", host: host, port: port, connections: connections)
            try load.print(try await HTTPLoad.run(options, progress: load.progress("http")), command: "http")
        }
    }

    /// `bench coap`: confirmable POSTs from one UDP socket per device.
    struct CoAP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coap", abstract: "CoAP telemetry load: one peer per device, confirmable POSTs with a window, retransmissions counted.")

        @Option(help: "The gateway's CoAP device API, coap://host:port.")
        var url = "coap://127.0.0.1:5683"

        @Option(help: "Confirmable POSTs a peer may have unanswered.")
        var window = 1

        @Option(help: "Seconds to wait for outstanding answers at the end.")
        var drain = 10.0

        @OptionGroup var load: LoadArguments

        func run() async throws {
            let (_, host, port) = try load.endpoint(url, schemes: ["coap": 5683], command: "coap")
            let options = try await load.options(command: "coap", host: host, port: port, connections: nil)
            let coap = CoAPLoadOptions(load: options, window: window, drain: .seconds(drain))
            try load.print(try await CoAPLoad.run(coap, progress: load.progress("coap")), command: "coap")
        }
    }
}
