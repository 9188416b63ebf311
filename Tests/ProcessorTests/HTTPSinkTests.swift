import Foundation
import HTTPSink
import Processor
import ProcessorAPI
import TestSupport
import Testing

@Suite("HTTP sink against a local HTTP server", .timeLimit(.minutes(2)))
struct HTTPSinkTests {
    func makeSink(_ server: RecordingHTTPServer, timeout: Duration = .seconds(10)) -> HTTPSink {
        HTTPSink(
            configuration: HTTPSinkConfiguration(
                baseURL: server.baseURL, accessToken: "gw-secret", deliveryTimeout: timeout,
                requestTimeout: .seconds(5), initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(100)),
            metrics: GatewayMetrics(), logger: testLogger)
    }

    @Test("one POST per kind: a JSON array of records, the token in a header")
    func bodyFormat() async throws {
        let server = try await RecordingHTTPServer()
        let sink = makeSink(server)
        let telemetry = RecordingCompletion()
        let attributes = RecordingCompletion()
        await sink.send([
            message(#"{"a":1}"#, entries: 2, completion: telemetry),
            message(#"{"fw":"1"}"#, kind: .attributes, completion: attributes),
        ])
        #expect(telemetry.all == [.delivered] && attributes.all == [.delivered])
        let requests = server.requests
        try #require(requests.count == 2)
        #expect(requests.map(\.uri) == ["/api/v1/gateway/telemetry", "/api/v1/gateway/attributes"])
        #expect(requests.allSatisfy { $0.method == "POST" && $0.header("Authorization") == "Bearer gw-secret" })
        #expect(requests[0].header("Content-Type") == "application/json")
        let record = { (ts: Int64, values: String) in
            #"{"deviceId":"00000000-0000-4000-8000-0000000000aa","deviceName":"unit","deviceType":"test","ts":\#(ts),"values":\#(values),"transport":"http","receivedAt":1700000000999}"#
        }
        #expect(requests[0].body == "[" + record(1_700_000_000_000, #"{"a":1}"#) + "," + record(1_700_000_000_001, #"{"a":1}"#) + "]")
        #expect(requests[1].body == "[" + record(1_700_000_000_000, #"{"fw":"1"}"#) + "]")
        await sink.shutdown()
        try await server.close()
    }

    @Test("5xx answers are retried with back-off until a 2xx")
    func retries() async throws {
        let server = try await RecordingHTTPServer()
        server.script([503, 500, 502])
        let sink = makeSink(server)
        let completion = RecordingCompletion()
        await sink.send([message(completion: completion)])
        #expect(completion.all == [.delivered])
        #expect(server.requests.count == 4)
        #expect(Set(server.requests.map(\.body)).count == 1, "the same body every time")
        await sink.shutdown()
        try await server.close()
    }

    @Test("a 4xx is not retried: sink_error; endless 5xx: sink_timeout")
    func failures() async throws {
        let server = try await RecordingHTTPServer()
        server.script([400])
        let sink = makeSink(server, timeout: .milliseconds(400))
        let refused = RecordingCompletion()
        await sink.send([message(completion: refused)])
        #expect(refused.all == [.failed(.sinkError)])
        #expect(server.requests.count == 1)

        server.script(Array(repeating: 503, count: 1000))
        let timedOut = RecordingCompletion()
        await sink.send([message(completion: timedOut)])
        #expect(timedOut.all == [.failed(.sinkTimeout)])
        #expect(server.requests.count > 2)
        await sink.shutdown()
        try await server.close()
    }

    @Test("batching by size: while the backend is busy messages gather into batches of at most BATCH_SIZE")
    func batchingBySize() async throws {
        let server = try await RecordingHTTPServer()
        server.script(Array(repeating: 200, count: 10), delay: .seconds(1))
        let sink = makeSink(server)
        let processor = MessageProcessor(
            configuration: ProcessorConfiguration(batchSize: 10, batchTimeout: .seconds(30)), sink: sink,
            metrics: GatewayMetrics(), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processor.run() }
            let first = RecordingCompletion()
            _ = processor.submit(message(completion: first))
            #expect(await waitUntil { server.requests.count == 1 })
            let rest = (0..<25).map { _ in RecordingCompletion() }
            for completion in rest { _ = processor.submit(message(completion: completion)) }
            #expect(await waitUntil { rest.allSatisfy { $0.outcome == .delivered } })
            #expect(first.all == [.delivered])
            let sizes = server.requests.map { $0.body.components(separatedBy: #""deviceId""#).count - 1 }
            #expect(sizes == [1, 10, 10, 5])
            processor.stopAccepting()
            try await group.waitForAll()
        }
        await sink.shutdown()
        try await server.close()
    }

    @Test("batching by timeout: a lone message is posted at once, and one stuck behind a hung backend past BATCH_TIMEOUT fails")
    func batchingByTimeout() async throws {
        let server = try await RecordingHTTPServer()
        let sink = makeSink(server)
        let processor = MessageProcessor(
            configuration: ProcessorConfiguration(batchSize: 100, batchTimeout: .seconds(1)), sink: sink,
            metrics: GatewayMetrics(), logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await processor.run() }
            // An idle sink: posted without waiting for 99 more.
            let lone = RecordingCompletion()
            _ = processor.submit(message(completion: lone))
            #expect(await waitUntil(timeout: .seconds(5)) { lone.outcome == .delivered })
            #expect(server.requests.count == 1)

            // A backend that takes 4 s: the next message waits in the queue
            // past BATCH_TIMEOUT and is failed, not held forever.
            server.script([200], delay: .seconds(4))
            let slow = RecordingCompletion()
            _ = processor.submit(message(completion: slow))
            #expect(await waitUntil { server.requests.count == 2 })
            let queued = RecordingCompletion()
            _ = processor.submit(message(completion: queued))
            #expect(await waitUntil(timeout: .seconds(10)) { queued.outcome != nil })
            #expect(queued.all == [.failed(.sinkTimeout)])
            #expect(await waitUntil(timeout: .seconds(10)) { slow.outcome == .delivered })
            processor.stopAccepting()
            try await group.waitForAll()
        }
        await sink.shutdown()
        try await server.close()
    }
}
