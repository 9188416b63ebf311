import CoAPCodec
@testable import CoAPEndpoint
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// What the test server saw, readable from the test.
final class ServerLog: Sendable {
    let bodies = Mutex<[Int]>([])
    let observationEnds = Mutex<[CoAPObservation.EndReason]>([])
    let handled = Mutex(0)
}

/// A small server: /hello answers at once, /slow after 300 ms, /big with
/// 3000 bytes, /upload with the length of what it got, /obs accepts an
/// observation and notifies (NON) 50 ms later.
final class TestResources: CoAPRequestHandler {
    let log: ServerLog

    init(log: ServerLog) { self.log = log }

    func handleRequest(_ exchange: CoAPServerExchange) {
        log.handled.withLock { $0 += 1 }
        switch exchange.request.uriPath.first {
        case "hello":
            exchange.respond(CoAPResponse(code: .content, text: "hi"))
        case "slow":
            exchange.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(300)) {
                exchange.respond(CoAPResponse(code: .content, text: "late"))
            }
        case "big":
            exchange.respond(CoAPResponse(code: .content, text: String(repeating: "x", count: 3000)))
        case "upload":
            let length = exchange.request.payload.readableBytes
            log.bodies.withLock { $0.append(length) }
            exchange.respond(CoAPResponse(code: .changed, text: "\(length)"))
        case "obs":
            let log = self.log
            guard let observation = exchange.acceptObservation(onCancel: { reason in log.observationEnds.withLock { $0.append(reason) } })
            else { return exchange.respond(CoAPResponse(code: .badRequest)) }
            exchange.respond(CoAPResponse(code: .content, text: "v0"))
            exchange.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) {
                observation.notify(CoAPResponse(code: .content, text: "v1"), confirmable: false)
            }
        case "obs-con":
            // Three confirmable notifications at once, to a client that never acknowledges.
            let log = self.log
            guard let observation = exchange.acceptObservation(onCancel: { reason in log.observationEnds.withLock { $0.append(reason) } })
            else { return exchange.respond(CoAPResponse(code: .badRequest)) }
            exchange.respond(CoAPResponse(code: .content, text: "v0"))
            for value in 1...3 {
                observation.notify(CoAPResponse(code: .content, text: "v\(value)"), confirmable: true)
            }
        default:
            exchange.respond(CoAPResponse(code: .notFound))
        }
    }
}

func fastConfiguration() -> CoAPEndpointConfiguration {
    var configuration = CoAPEndpointConfiguration(host: "127.0.0.1", port: 0)
    configuration.piggybackTimeout = .milliseconds(100)
    configuration.ackTimeout = .milliseconds(100)
    configuration.maxRetransmit = 2
    configuration.clientResponseTimeout = .seconds(5)
    configuration.maxBodySize = 4000
    return configuration
}

func withEndpoints(_ body: (CoAPEndpoint, CoAPEndpoint, SocketAddress, ServerLog) async throws -> Void) async throws {
    let log = ServerLog()
    let logger = Logger(label: "test")
    let server = try await CoAPEndpoint.bind(configuration: fastConfiguration(), logger: logger) { TestResources(log: log) }
    let client = try await CoAPEndpoint.bind(configuration: fastConfiguration(), logger: logger) { nil }
    do {
        try await body(server, client, server.localAddress!, log)
    } catch {
        await server.close()
        await client.close()
        throw error
    }
    await server.close()
    await client.close()
}

func request(_ code: CoAPCode, _ path: String, type: CoAPMessageType = .confirmable, payload: String = "") -> CoAPMessage {
    var message = CoAPMessage(type: type, code: code, messageId: 0, payload: ByteBuffer(string: payload))
    message.setURI(path: path.split(separator: "/").map(String.init))
    return message
}

@Suite("CoAP endpoint: message and request/response layers over loopback")
struct CoAPEndpointTests {
    @Test("CON request gets a piggybacked response; NON gets a NON response")
    func piggybacked() async throws {
        try await withEndpoints { server, client, address, _ in
            let response = try await client.request(request(.get, "hello"), to: address).get()
            #expect(response.type == .acknowledgement && response.code == .content && String(buffer: response.payload) == "hi")
            let non = try await client.request(request(.get, "hello", type: .nonConfirmable), to: address).get()
            #expect(non.type == .nonConfirmable && String(buffer: non.payload) == "hi")
            let missing = try await client.request(request(.get, "nothing"), to: address).get()
            #expect(missing.code == .notFound)
            let statistics = try await server.statistics()
            #expect(statistics.requests == 3 && statistics.openExchanges == 0 && statistics.duplicates == 0)
        }
    }

    @Test("a slow answer becomes an empty ACK and a separate CON response")
    func separate() async throws {
        try await withEndpoints { server, client, address, _ in
            let response = try await client.request(request(.get, "slow"), to: address).get()
            #expect(response.type == .confirmable && String(buffer: response.payload) == "late")
            let statistics = try await server.statistics()
            #expect(statistics.separateResponses == 1)
        }
    }

    @Test("Block1 upload is assembled; 2.31 Continue for each block but the last")
    func block1() async throws {
        try await withEndpoints { server, client, address, log in
            let body = String(repeating: "a", count: 2500)
            let chunks = stride(from: 0, to: body.count, by: 1024).map { offset in
                String(body.dropFirst(offset).prefix(1024))
            }
            var last: CoAPMessage?
            for (number, chunk) in chunks.enumerated() {
                var block = request(.post, "upload", payload: chunk)
                block.block1 = CoAPBlockOption(number: UInt32(number), more: number < chunks.count - 1, sizeExponent: 6)
                let response = try await client.request(block, to: address).get()
                if number < chunks.count - 1 {
                    #expect(response.code == .continue)
                    #expect(response.block1 == CoAPBlockOption(number: UInt32(number), more: true, sizeExponent: 6))
                }
                last = response
            }
            #expect(last?.code == .changed && String(buffer: last!.payload) == "2500")
            #expect(last?.block1 == CoAPBlockOption(number: 2, more: false, sizeExponent: 6))
            #expect(log.bodies.withLock { $0 } == [2500])
        }
    }

    @Test("Block1 past the body limit gets 4.13 with Size1; a block out of order gets 4.08")
    func block1Limits() async throws {
        try await withEndpoints { server, client, address, log in
            var announced = request(.post, "upload", payload: String(repeating: "b", count: 1024))
            announced.block1 = CoAPBlockOption(number: 0, more: true, sizeExponent: 6)
            announced.size1 = 100_000
            let refused = try await client.request(announced, to: address).get()
            #expect(refused.code == .requestEntityTooLarge && refused.size1 == 4000)

            for number in 0..<4 {
                var block = request(.post, "upload", payload: String(repeating: "c", count: 1024))
                block.block1 = CoAPBlockOption(number: UInt32(number), more: true, sizeExponent: 6)
                let response = try await client.request(block, to: address).get()
                #expect(response.code == (number < 3 ? .continue : .requestEntityTooLarge))
            }
            var skipped = request(.post, "upload", payload: "d")
            skipped.block1 = CoAPBlockOption(number: 7, more: false, sizeExponent: 6)
            #expect(try await client.request(skipped, to: address).get().code == .requestEntityIncomplete)
            #expect(log.bodies.withLock { $0 }.isEmpty)
        }
    }

    @Test("Block2: a large response comes in blocks with Size2")
    func block2() async throws {
        try await withEndpoints { server, client, address, _ in
            let first = try await client.request(request(.get, "big"), to: address).get()
            #expect(first.payload.readableBytes == 1024)
            #expect(first.block2 == CoAPBlockOption(number: 0, more: true, sizeExponent: 6))
            #expect(first.size2 == 3000)
            var third = request(.get, "big")
            third.block2 = CoAPBlockOption(number: 2, more: false, sizeExponent: 6)
            let last = try await client.request(third, to: address).get()
            #expect(last.payload.readableBytes == 3000 - 2048)
            #expect(last.block2 == CoAPBlockOption(number: 2, more: false, sizeExponent: 6))
            var past = request(.get, "big")
            past.block2 = CoAPBlockOption(number: 9, more: false, sizeExponent: 6)
            #expect(try await client.request(past, to: address).get().code == .badOption)
        }
    }

    @Test("an observation is confirmed with Observe; an RST to a notification ends it")
    func observeReset() async throws {
        try await withEndpoints { server, client, address, log in
            var registration = request(.get, "obs")
            registration.observe = 0
            // The client endpoint forgets the token after the first response,
            // so it answers the notification with RST (RFC 7641 §3.6).
            let first = try await client.request(registration, to: address).get()
            #expect(first.code == .content && first.observe != nil && String(buffer: first.payload) == "v0")
            let deadline = ContinuousClock.now + .seconds(5)
            while log.observationEnds.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(log.observationEnds.withLock { $0 } == [.reset])
            #expect(try await server.statistics().observations == 0)
        }
    }

    @Test("an unanswered CON is retransmitted MAX_RETRANSMIT times with the same message id, then fails")
    func retransmission() async throws {
        let received = Datagrams()
        let silent = try await recordingSocket(received)
        let client = try await CoAPEndpoint.bind(configuration: fastConfiguration(), logger: Logger(label: "test")) { nil }
        await #expect(throws: CoAPClientError.timeout) {
            try await client.request(request(.get, "hello"), to: silent.localAddress!).get()
        }
        let datagrams = received.withLock { $0 }
        #expect(datagrams.count == 3)
        #expect(Set(datagrams.map { $0.getInteger(at: 2, as: UInt16.self) }).count == 1)
        #expect(try await client.statistics().retransmissions == 2)
        await client.close()
        try await silent.close()
    }

    @Test("CON notifications to a silent observer: one outstanding at a time (NSTART 1), then the observer is dropped")
    func silentObserver() async throws {
        try await withEndpoints { server, _, address, log in
            let received = Datagrams()
            let silent = try await recordingSocket(received)
            var registration = request(.get, "obs-con")
            registration.token = CoAPToken(bytes: [7, 7])
            registration.messageId = 4242
            registration.observe = 0
            try await silent.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: registration.encoded()))
            try await Task.sleep(for: .milliseconds(300))
            let early = received.withLock { $0 }.compactMap { try? CoAPMessage(decoding: $0) }
            // The piggybacked registration answer, then only the first notification (maybe retransmitted).
            #expect(early.first?.type == .acknowledgement && early.first?.observe != nil)
            let notifications = early.dropFirst()
            #expect(!notifications.isEmpty && Set(notifications.map(\.messageId)).count == 1)
            #expect(notifications.allSatisfy { $0.type == .confirmable && String(buffer: $0.payload) == "v1" })
            // No ACK ever: after MAX_RETRANSMIT the observation ends as unreachable.
            let deadline = ContinuousClock.now + .seconds(5)
            while log.observationEnds.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(log.observationEnds.withLock { $0 } == [.unreachable])
            #expect(try await server.statistics().observations == 0)
            try await silent.close()
        }
    }

    @Test("a CON notification is acknowledged only once its receiver accepts it; a refused one is delivered again when retransmitted")
    func notificationAcknowledgedByReceiver() async throws {
        let received = Datagrams()
        let device = try await recordingSocket(received)
        let client = try await CoAPEndpoint.bind(configuration: fastConfiguration(), logger: Logger(label: "test")) { nil }
        let deviceAddress = try #require(device.localAddress)
        let clientAddress = try #require(client.localAddress)
        let notifications = Mutex<[(value: String, acknowledgement: CoAPNotificationAcknowledgement?)]>([])
        var messages: [CoAPMessage] { received.withLock { $0 }.compactMap { try? CoAPMessage(decoding: $0) } }
        func acknowledgements(_ id: UInt16) -> Int { messages.filter { $0.type == .acknowledgement && $0.messageId == id }.count }
        func waitFor(_ what: String, _ condition: () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(condition(), "waited for \(what)")
        }
        // Datagrams from one socket arrive in order: once a later probe has
        // arrived, an ACK sent before it would have too.
        var probes = 0
        func probe() async throws {
            probes += 1
            _ = client.request(request(.get, "probe\(probes)", type: .nonConfirmable), to: deviceAddress)
            let path = ["probe\(probes)"]
            try await waitFor("probe \(probes)") { messages.contains { $0.uriPath == path } }
        }
        func notify(_ id: UInt16, _ value: String, type: CoAPMessageType = .confirmable, token: CoAPToken) async throws {
            var notification = CoAPMessage(type: type, code: .content, messageId: id, token: token, payload: ByteBuffer(string: value))
            notification.observe = UInt32(id)
            try await device.writeAndFlush(AddressedEnvelope(remoteAddress: clientAddress, data: notification.encoded()))
        }

        var registration = request(.get, "value")
        registration.observe = 0
        let first = client.observe(registration, to: deviceAddress) { message, acknowledgement in
            notifications.withLock { $0.append((String(buffer: message.payload), acknowledgement)) }
        }
        try await waitFor("the registration") { messages.contains { $0.code == .get } }
        let get = try #require(messages.first { $0.code == .get })
        var answer = CoAPMessage(type: .acknowledgement, code: .content, messageId: get.messageId, token: get.token, payload: ByteBuffer(string: "v0"))
        answer.observe = 1
        try await device.writeAndFlush(AddressedEnvelope(remoteAddress: clientAddress, data: answer.encoded()))
        #expect(String(buffer: try await first.get().payload) == "v0")

        // Accepted: no ACK until then, one after; a retransmission gets it again and is not delivered twice.
        try await notify(100, "v1", token: get.token)
        try await waitFor("v1") { notifications.withLock { $0.count } == 1 }
        try await probe()
        #expect(acknowledgements(100) == 0)
        notifications.withLock { $0[0].acknowledgement }?.accepted()
        try await waitFor("the ACK of v1") { acknowledgements(100) == 1 }
        try await notify(100, "v1", token: get.token)
        try await waitFor("the ACK of v1 again") { acknowledgements(100) == 2 }
        #expect(notifications.withLock { $0.count } == 1)

        // Refused: no ACK; the retransmission is delivered again and then accepted.
        try await notify(101, "v2", token: get.token)
        try await waitFor("v2") { notifications.withLock { $0.count } == 2 }
        notifications.withLock { $0[1].acknowledgement }?.refused()
        try await probe()
        #expect(acknowledgements(101) == 0)
        try await notify(101, "v2", token: get.token)
        try await waitFor("v2 again") { notifications.withLock { $0.count } == 3 }
        #expect(notifications.withLock { $0.map(\.value) } == ["v1", "v2", "v2"])
        notifications.withLock { $0[2].acknowledgement }?.accepted()
        try await waitFor("the ACK of v2") { acknowledgements(101) == 1 }

        // A NON notification has nothing to acknowledge.
        try await notify(102, "v3", type: .nonConfirmable, token: get.token)
        try await waitFor("v3") { notifications.withLock { $0.count } == 4 }
        #expect(notifications.withLock { $0[3].value == "v3" && $0[3].acknowledgement == nil })
        #expect(notifications.withLock { $0[0].acknowledgement != nil && $0[1].acknowledgement != nil })
        await client.close()
        try await device.close()
    }

    @Test("a CON ping gets RST; a CON with a format error gets RST; the endpoint keeps serving")
    func resets() async throws {
        try await withEndpoints { server, client, address, _ in
            let replies = Datagrams()
            let raw = try await recordingSocket(replies)
            for datagram in [[0x40, 0x00, 0x12, 0x34], [0x49, 0x01, 0x12, 0x35, 1, 2, 3], [0x40, 0x02, 0x12, 0x36, 0xFF]] as [[UInt8]] {
                try await raw.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: datagram)))
            }
            let deadline = ContinuousClock.now + .seconds(5)
            while replies.withLock({ $0.count }) < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let answers = replies.withLock { $0.map { Array($0.readableBytesView) } }.sorted { $0[3] < $1[3] }
            #expect(answers == [[0x70, 0, 0x12, 0x34], [0x70, 0, 0x12, 0x35], [0x70, 0, 0x12, 0x36]])
            #expect(try await server.statistics().formatErrors == 2)
            let response = try await client.request(request(.get, "hello"), to: address).get()
            #expect(String(buffer: response.payload) == "hi")
            try await raw.close()
        }
    }
}

final class Datagrams: Sendable {
    private let list = Mutex<[ByteBuffer]>([])
    func append(_ buffer: ByteBuffer) { list.withLock { $0.append(buffer) } }
    func withLock<T>(_ body: ([ByteBuffer]) -> T) -> T { list.withLock { body($0) } }
}

/// A UDP socket on loopback that keeps every datagram it receives: a
/// silent peer, or a device the test speaks for by hand.
func recordingSocket(_ received: Datagrams) async throws -> any Channel {
    try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Recorder(received: received)) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
}

final class Recorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let received: Datagrams
    init(received: Datagrams) { self.received = received }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(unwrapInboundIn(data).data)
    }
}

@Suite("CoAP message keys (RFC 7252 §4.5: a message id is unique per peer)")
struct CoAPMessageKeyTests {
    @Test("IPv4 keys: equal for the same address, port and id; different if any differs; IPv6 peers too")
    func keys() throws {
        let a = try SocketAddress(ipAddress: "127.0.0.1", port: 5683)
        let sameAsA = try SocketAddress(ipAddress: "127.0.0.1", port: 5683)
        let otherPort = try SocketAddress(ipAddress: "127.0.0.1", port: 5684)
        let otherHost = try SocketAddress(ipAddress: "10.0.0.1", port: 5683)
        let v6 = try SocketAddress(ipAddress: "::1", port: 5683)
        let v6Other = try SocketAddress(ipAddress: "::2", port: 5683)
        #expect(CoAPMessageKey(peer: a, messageId: 7) == CoAPMessageKey(peer: sameAsA, messageId: 7))
        #expect(CoAPMessageKey(peer: a, messageId: 7).hashValue == CoAPMessageKey(peer: sameAsA, messageId: 7).hashValue)
        #expect(CoAPMessageKey(peer: a, messageId: 7) != CoAPMessageKey(peer: a, messageId: 8))
        #expect(CoAPMessageKey(peer: a, messageId: 7) != CoAPMessageKey(peer: otherPort, messageId: 7))
        #expect(CoAPMessageKey(peer: a, messageId: 7) != CoAPMessageKey(peer: otherHost, messageId: 7))
        #expect(CoAPMessageKey(peer: v6, messageId: 7) == CoAPMessageKey(peer: v6, messageId: 7))
        #expect(CoAPMessageKey(peer: v6, messageId: 7) != CoAPMessageKey(peer: v6Other, messageId: 7))
        #expect(CoAPMessageKey(peer: v6, messageId: 7) != CoAPMessageKey(peer: a, messageId: 7))
        // Every field of the packed word counts: the highest address byte and the port.
        let high = try SocketAddress(ipAddress: "255.0.0.1", port: 5683)
        let low = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        #expect(CoAPMessageKey(peer: high, messageId: 7) != CoAPMessageKey(peer: otherHost, messageId: 7))
        #expect(CoAPMessageKey(peer: low, messageId: 7) != CoAPMessageKey(peer: a, messageId: 7))
    }

    @Test("the duplicate table: a new id is remembered, a repeat gets its entry (in progress, then the answer); the cap and the lifetime evict oldest first; a forgotten id taken again outlives its old slot")
    func deduplication() throws {
        let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 5683)
        func key(_ id: UInt16) -> CoAPMessageKey { CoAPMessageKey(peer: peer, messageId: id) }
        func isInProgress(_ entry: CoAPDeduplication.Entry?) -> Bool {
            if case .inProgress? = entry { return true }
            return false
        }
        func answer(_ entry: CoAPDeduplication.Entry?) -> ByteBuffer? { entry?.answer }
        let start = NIODeadline.now()
        var table = CoAPDeduplication(capacity: 3)
        #expect(table.firstSight(key(1), expires: start + .seconds(10)) == nil)
        #expect(isInProgress(table.firstSight(key(1), expires: start + .seconds(10))))
        table.answered(key(1), with: ByteBuffer(string: "ack-1"))
        #expect(answer(table.firstSight(key(1), expires: start + .seconds(10))) == ByteBuffer(string: "ack-1"))
        // A repeat neither adds an entry nor moves the id's expiry.
        #expect(table.count == 1)
        // Answering an id never seen (or already evicted) records nothing.
        table.answered(key(9), with: ByteBuffer(string: "x"))
        #expect(table.count == 1 && table.firstSight(key(9), expires: start + .seconds(10)) == nil)
        // The cap: the fourth id evicts the oldest, 1.
        #expect(table.firstSight(key(2), expires: start + .seconds(20)) == nil)
        #expect(table.firstSight(key(3), expires: start + .seconds(30)) == nil)
        #expect(table.count == 3 && table.firstSight(key(1), expires: start + .seconds(40)) == nil)
        #expect(table.count == 3)
        // Forgotten while in progress (the receiver refused it): taken as new again,
        // and the old slot's eviction does not remove the new entry.
        table.forget(key(2))
        #expect(table.count == 2 && table.firstSight(key(2), expires: start + .seconds(50)) == nil)
        table.expire(now: start + .seconds(25))  // 2's first slot (20 s) passes
        #expect(isInProgress(table.firstSight(key(2), expires: start + .seconds(50))))
        #expect(table.count == 3)  // 3, 1 and 2
        // An answered id is not forgotten by `forget`: its answer is repeated.
        table.answered(key(3), with: ByteBuffer(string: "ack-3"))
        table.forget(key(3))
        #expect(answer(table.firstSight(key(3), expires: start + .seconds(60))) == ByteBuffer(string: "ack-3"))
        table.expire(now: start + .seconds(100))
        #expect(table.count == 0)
    }

    @Test("an answer of up to 16 bytes is kept in the entry itself, a longer one as its buffer; either is repeated byte for byte", arguments: [0, 1, 4, 12, 15, 16, 17, 40])
    func storedAnswers(length: Int) throws {
        let peer = try SocketAddress(ipAddress: "10.1.2.3", port: 40_000)
        let bytes = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: 0xF0 &+ $0 &* 37) })
        var table = CoAPDeduplication(capacity: 8)
        let key = CoAPMessageKey(peer: peer, messageId: 0xBEEF)
        #expect(table.firstSight(key, expires: .now() + .seconds(10)) == nil)
        table.answered(key, with: bytes)
        let repeated = table.firstSight(key, expires: .now() + .seconds(10))
        let entry = try #require(repeated)
        #expect(entry.answer == bytes)
        switch entry {
        case .answeredInline: #expect(length <= 16)
        case .answered: #expect(length > 16)
        case .inProgress: Issue.record("answered, not in progress")
        }
        // An empty ACK as the endpoint encodes it.
        let ack = CoAPMessage.empty(.acknowledgement, messageId: 0xBEEF).encoded()
        #expect(CoAPDeduplication.Entry(answer: ack).answer == ack)
    }
}
