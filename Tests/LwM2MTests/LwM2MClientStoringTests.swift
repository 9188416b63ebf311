import Auth
import CoAPCodec
import CoAPEndpoint
import Foundation
import Logging
import NIOCore
import NIOPosix
import ProcessorAPI
import Synchronization
import Testing

@testable import LwM2M

/// Notification Storing (Core §6.4, /1/0/6): when the server stops
/// acknowledging notifications, the client holds them, keeping the latest
/// value of each observation, and sends it once an Update is answered
/// again, on the same observation. The client runs in-process with short
/// CoAP timers (ACK_TIMEOUT 100 ms, one retransmission) against a server
/// on a plain UDP socket that can drop notifications.
@Suite("LwM2M client role: notifications held while the server does not acknowledge them", .timeLimit(.minutes(2)))
struct LwM2MClientStoringTests {
    @Test("values that arrive while notifications are lost reach the server as the latest value on the same observation, without a new registration")
    func heldAndResumed() async throws {
        let directory = NSTemporaryDirectory() + "lwm2m-storing-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try DeviceRegistry(directory: directory)
        let (device, _) = try await registry.createDevice(name: "meter-1", type: "meter")
        let server = try await FakeLwM2MServer.start()

        var endpoint = CoAPEndpointConfiguration(host: "127.0.0.1", port: 0)
        endpoint.ackTimeout = .milliseconds(100)
        endpoint.ackRandomFactor = 1
        endpoint.maxRetransmit = 1
        // Every notification confirmable: each one finds out whether the server is there.
        endpoint.confirmableNotificationInterval = 1
        let configuration = LwM2MClientConfiguration(
            serverHost: "127.0.0.1", serverPort: server.port, lifetime: .seconds(300), endpoint: endpoint,
            requestTimeout: .seconds(2), maximumBackoff: .seconds(1))
        let values = LwM2MLastValues()
        values.update(deviceId: device.id, [(key: "temperature", json: "1001")], ts: 1)
        let client = LwM2MClient(
            configuration: configuration, registry: registry, mapping: LwM2MClientMapping(), models: try LwM2MModelRegistry.load(),
            values: values, downlink: LwM2MClientDownlink(writeShared: { _, _ in true }, rpc: { _, _, _ in 0 }),
            metrics: GatewayMetrics(), logger: Logger(label: "test.lwm2m-client"))
        let running = Task { try await client.run() }

        // Registered with the device as an instance of the default object.
        try await server.until("the Register") { !$0.registrations.isEmpty }
        let links = server.state.withLock { $0.registrations[0] }
        let instance = try #require(links.firstMatch(of: /<\/26241\/(\d+)>/).map { String($0.1) }, "\(links)")

        // The server observes the device's latest values (resource 2).
        server.observe(path: ["26241", instance, "2"])
        try await server.until("the Observe response") { $0.observeResponse != nil }
        let first = try #require(server.state.withLock { $0.observeResponse })
        #expect(first.code == .content && first.payload.contains("1001"), "\(first.payload)")

        // Notifications are lost from here on; Updates are still answered.
        server.state.withLock { $0.dropping = true }
        values.update(deviceId: device.id, [(key: "temperature", json: "1002")], ts: 2)
        // Both transmissions of the CON notification lost, then the Update the client sends to find the server.
        try await server.until("a lost notification and the Update after it") { $0.dropped >= 2 && $0.updates >= 1 }
        values.update(deviceId: device.id, [(key: "temperature", json: "1003")], ts: 3)
        values.update(deviceId: device.id, [(key: "temperature", json: "1004")], ts: 4)
        try await Task.sleep(for: .milliseconds(300))

        // The server takes notifications again: the latest value arrives on the same observation.
        server.state.withLock { $0.dropping = false }
        try await server.until("the latest value") { state in state.notifications.contains { $0.payload.contains("1004") } }
        let (notifications, registrations) = server.state.withLock { ($0.notifications, $0.registrations.count) }
        let latest = try #require(notifications.first { $0.payload.contains("1004") })
        #expect(latest.observe.map { $0 > (first.observe ?? 0) } == true, "the observation's sequence goes on: \(latest.observe.map(String.init) ?? "none")")
        #expect(registrations == 1, "the registration was kept, not made anew")
        // Nothing older is sent after the latest.
        let after = notifications.drop { !$0.payload.contains("1004") }.dropFirst()
        #expect(after.allSatisfy { $0.payload.contains("1004") }, "\(after.map(\.payload))")

        // The client still reports a new value at once on the resumed observation.
        values.update(deviceId: device.id, [(key: "temperature", json: "1005")], ts: 5)
        try await server.until("a value after the resumption") { state in state.notifications.contains { $0.payload.contains("1005") } }

        running.cancel()
        _ = try? await running.value
        try await server.close()
    }
}

/// An LwM2M server on a plain UDP socket: answers Register, Update and
/// De-register, observes one resource, and acknowledges the notifications
/// unless it is told to drop them.
private final class FakeLwM2MServer: Sendable {
    struct Received: Sendable {
        var observe: UInt32?
        var payload: String
        var code: CoAPCode
    }

    struct State {
        var client: SocketAddress?
        var registrations: [String] = []
        var updates = 0
        var dropping = false
        var dropped = 0
        var observeResponse: Received?
        var notifications: [Received] = []
    }

    static let token = CoAPToken(value: 0xA1B2_C3D4, length: 4)
    let state = Mutex(State())
    private let channel: any Channel

    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start() async throws -> FakeLwM2MServer {
        let box = StateBox()
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(box: box)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = FakeLwM2MServer(channel: channel)
        box.server.withLock { $0 = server }
        return server
    }

    /// A CON GET with Observe 0 from the server to the client (Core §6.4.1).
    func observe(path: [String]) {
        guard let client = state.withLock({ $0.client }) else { return }
        var message = CoAPMessage(type: .confirmable, code: .get, messageId: 0x4000, token: Self.token)
        message.setURI(path: path)
        message.observe = 0
        send(message, to: client)
    }

    func send(_ message: CoAPMessage, to peer: SocketAddress) {
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: peer, data: message.encoded()), promise: nil)
    }

    func until(_ what: String, timeout: Duration = .seconds(20), _ condition: (State) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !state.withLock({ condition($0) }) {
            guard ContinuousClock.now < deadline else {
                let seen = state.withLock { "registrations \($0.registrations.count), updates \($0.updates), dropped \($0.dropped), notifications \($0.notifications.map(\.payload))" }
                throw FakeServerTimeout(what: what + " (" + seen + ")")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func close() async throws { try await channel.close() }

    /// What a datagram from the client is, and the answer to it.
    func received(_ message: CoAPMessage, from peer: SocketAddress) {
        func answer(_ code: CoAPCode, options: [CoAPOption] = []) {
            send(CoAPMessage(type: .acknowledgement, code: code, messageId: message.messageId, token: message.token, options: options), to: peer)
        }
        if message.type == .confirmable, message.code == .post, message.uriPath == ["rd"] {
            state.withLock {
                $0.client = peer
                $0.registrations.append(String(buffer: message.payload))
            }
            answer(.created, options: [CoAPOption(.locationPath, string: "rd"), CoAPOption(.locationPath, string: "7")])
        } else if message.type == .confirmable, message.code == .post, message.uriPath == ["rd", "7"] {
            state.withLock { $0.updates += 1 }
            answer(.changed)
        } else if message.type == .confirmable, message.code == .delete {
            answer(.deleted)
        } else if message.token == Self.token {
            let received = Received(observe: message.observe, payload: String(buffer: message.payload), code: message.code)
            if message.type == .acknowledgement {
                state.withLock { $0.observeResponse = received }
                return
            }
            let dropped = state.withLock { state -> Bool in
                if state.dropping {
                    state.dropped += 1
                    return true
                }
                state.notifications.append(received)
                return false
            }
            if !dropped, message.type == .confirmable { send(.empty(.acknowledgement, messageId: message.messageId), to: peer) }
        }
    }

    private final class StateBox: Sendable {
        let server = Mutex<FakeLwM2MServer?>(nil)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let box: StateBox

        init(box: StateBox) { self.box = box }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let message = try? CoAPMessage(decoding: envelope.data), let server = box.server.withLock({ $0 }) else { return }
            server.received(message, from: envelope.remoteAddress)
        }
    }
}

private struct FakeServerTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}
