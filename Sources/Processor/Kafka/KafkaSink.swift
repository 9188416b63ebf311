import CRdKafka
import Foundation
import Logging
import NIOPosix
import ProcessorAPI
import Synchronization

/// The Kafka sink: one librdkafka producer (idempotent, acks=all), records as
/// docs/kafka-records.md specifies, acks completed from delivery reports.
///
/// `send` hands records to librdkafka without waiting for the broker;
/// librdkafka's linger coalesces them into produce requests, and the poll
/// thread completes each message when its delivery report arrives.
package final class KafkaSink: MessageSink, @unchecked Sendable {
    // @unchecked: the C handles are created in init and destroyed in deinit;
    // librdkafka's handles are thread-safe for produce, poll and metadata.
    package let name = "kafka"
    package let takesInline = true
    private let handle: OpaquePointer
    /// By `MessageKind.allCases` order (`topicSlot`): looked up per record.
    private let topicHandles: [OpaquePointer]
    private let callbacks: KafkaCallbacks
    private let configuration: KafkaConfiguration
    private let enqueueTimeout: Duration
    private let running = Atomic<Bool>(true)
    private let pollStopped = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// `enqueueTimeout` bounds how long a message waits for room in
    /// librdkafka's local queue (BATCH_TIMEOUT).
    package init(
        configuration: KafkaConfiguration,
        enqueueTimeout: Duration,
        metrics: GatewayMetrics,
        logger: Logger
    ) throws(KafkaError) {
        self.configuration = configuration
        self.enqueueTimeout = enqueueTimeout
        self.logger = logger
        let callbacks = KafkaCallbacks(logger: logger, metrics: metrics)
        let conf = try makeKafkaConf(configuration.producerProperties)
        callbacks.install(on: conf)
        let handle = try makeKafkaHandle(RD_KAFKA_PRODUCER, conf: conf)
        var topicHandles: [OpaquePointer] = []
        for kind in MessageKind.allCases {
            precondition(kind.topicSlot == topicHandles.count)
            guard let topic = rd_kafka_topic_new(handle, configuration.topics.topic(for: kind), nil) else {
                for topic in topicHandles { rd_kafka_topic_destroy(topic) }
                rd_kafka_destroy(handle)
                throw KafkaError("rd_kafka_topic_new \(configuration.topics.topic(for: kind)) failed")
            }
            topicHandles.append(topic)
        }
        _ = UnansweredRecord.epoch
        precondition(TransportKind.allCases.allSatisfy { $0.headerValue.description == $0.rawValue })
        self.handle = handle
        self.callbacks = callbacks
        self.topicHandles = topicHandles
        startPollThread()
    }

    /// rd_kafka_poll blocks, so it runs on a thread of its own (facts.md).
    private func startPollThread() {
        // The thread holds the sink until `close()` stops it.
        let thread = Thread { [self, callbacks, pollStopped] in
            // Named for `top -H` and profiles (Foundation's name is not the
            // kernel's on Linux: the thread would show its parent's name).
            tbk_name_thread("kafka-poll")
            while self.running.load(ordering: .relaxed) {
                rd_kafka_poll(self.handle, 50)
                callbacks.settleReports()
            }
            // Settle what a final purge reported.
            rd_kafka_poll(self.handle, 0)
            callbacks.settleReports()
            pollStopped.signal()
        }
        thread.start()
    }

    // MARK: MessageSink

    package func send(_ batch: [GatewayMessage]) async {
        var value: [UInt8] = []
        value.reserveCapacity(512)
        for message in batch {
            if message.entries.isEmpty {
                message.completion.complete(.delivered)
                continue
            }
            // No suspension unless librdkafka's queue is full.
            let pending = PendingDelivery.unlessUnanswered(message)
            let (code, stopped) = produceRecords(message, pending: pending, from: 0, scratch: &value)
            if code == RD_KAFKA_RESP_ERR_NO_ERROR { continue }
            await produceWaiting(message, pending: pending, code: code, from: stopped, scratch: &value)
        }
    }

    /// Produces the rest of a message librdkafka refused with `code` at
    /// `position`: waits for room in its queue up to the bound.
    private func produceWaiting(
        _ message: GatewayMessage,
        pending: PendingDelivery?,
        code: rd_kafka_resp_err_t,
        from position: Int,
        scratch value: inout [UInt8]
    ) async {
        let deadline = ContinuousClock.now + enqueueTimeout
        var (code, position) = (code, position)
        while true {
            if code == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            // The local queue is full (a broker outage under load): wait for
            // room up to the bound, then give up on the rest of this message.
            if code == RD_KAFKA_RESP_ERR__QUEUE_FULL, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(5))
                (code, position) = produceRecords(message, pending: pending, from: position, scratch: &value)
                continue
            }
            fail(message, pending: pending, code: code, from: position)
            return
        }
    }

    /// Hands the message to librdkafka on the caller's thread without
    /// waiting; false, with nothing produced, when librdkafka's queue is full.
    package func sendNow(_ message: GatewayMessage) -> Bool {
        if message.entries.isEmpty {
            message.completion.complete(.delivered)
            return true
        }
        let pending = PendingDelivery.unlessUnanswered(message)
        var value: [UInt8] = []
        value.reserveCapacity(256)
        let (code, stopped) = produceRecords(message, pending: pending, from: 0, scratch: &value)
        if code == RD_KAFKA_RESP_ERR_NO_ERROR { return true }
        if code == RD_KAFKA_RESP_ERR__QUEUE_FULL, stopped == 0 { return false }
        fail(message, pending: pending, code: code, from: stopped)
        return true
    }

    /// Produces the message's records from `position` on; stops at the
    /// first error and returns it with the position it stopped at.
    private func produceRecords(
        _ message: GatewayMessage,
        pending: PendingDelivery?,
        from position: Int,
        scratch value: inout [UInt8]
    ) -> (rd_kafka_resp_err_t, Int) {
        let topic = topicHandles[message.kind.topicSlot]
        var key = message.device.id
        for index in position..<message.entries.count {
            value.removeAll(keepingCapacity: true)
            RecordEncoder.append(
                device: message.device, entry: message.entries[index], transport: message.transport,
                receivedAt: message.receivedAt, to: &value)
            let code = produceRecord(topic: topic, key: &key, value: value, message: message, pending: pending)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR { return (code, index) }
        }
        return (RD_KAFKA_RESP_ERR_NO_ERROR, message.entries.count)
    }

    /// Fails a message whose records from `position` on were not produced.
    private func fail(_ message: GatewayMessage, pending: PendingDelivery?, code: rd_kafka_resp_err_t, from position: Int) {
        let reason: DropReason = code == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .sinkTimeout : .sinkError
        if code != RD_KAFKA_RESP_ERR__QUEUE_FULL {
            logger.error("Kafka produce failed", metadata: ["error": "\(String(cString: rd_kafka_err2str(code)))"])
        }
        // An unanswered record has nothing to settle: its one record failed.
        let decided = pending.map { $0.settle(.failed(reason), records: message.entries.count - position) } ?? .failed(reason)
        if let decided {
            message.completion.complete(decided)
            callbacks.metrics.dropped(reason)
            callbacks.metrics.error(.sink)
        }
    }

    /// One `rd_kafka_producev`; the pending delivery is retained for the
    /// record's opaque and released here if librdkafka did not take it.
    private func produceRecord(
        topic: OpaquePointer,
        key: inout String,
        value: [UInt8],
        message: GatewayMessage,
        pending: PendingDelivery?
    ) -> rd_kafka_resp_err_t {
        let headers = rd_kafka_headers_new(3)
        key.withUTF8 { id in
            _ = rd_kafka_header_add(headers, "device-id", -1, id.baseAddress, id.count)
        }
        // Static C strings: a Swift String passed as `const void *` is
        // copied into a new array on every call.
        let transport = message.transport.headerValue
        _ = rd_kafka_header_add(headers, "transport", -1, transport.utf8Start, transport.utf8CodeUnitCount)
        let contentType: StaticString = "application/json"
        _ = rd_kafka_header_add(headers, "content-type", -1, contentType.utf8Start, contentType.utf8CodeUnitCount)
        let opaque = pending.map { Unmanaged.passRetained($0).toOpaque() }
            ?? UnansweredRecord.opaque(enqueuedAt: message.enqueuedAt)
        let code = key.withUTF8 { id in
            value.withUnsafeBytes { bytes in
                tbk_produce(handle, topic, id.baseAddress, id.count, bytes.baseAddress, bytes.count, headers, opaque)
            }
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_headers_destroy(headers)
            if pending != nil { Unmanaged<PendingDelivery>.fromOpaque(opaque).release() }
        }
        return code
    }

    package func isReachable() async -> Bool {
        let answered = try? await NIOThreadPool.singleton.runIfActive { [self] () -> Bool in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let code = rd_kafka_metadata(self.handle, 0, self.topicHandles[MessageKind.telemetry.topicSlot], &metadata, 2000)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return code == RD_KAFKA_RESP_ERR_NO_ERROR
        }
        return answered ?? false
    }

    /// Records librdkafka still holds (queued or in flight).
    package var outstandingRecords: Int { Int(rd_kafka_outq_len(handle)) }

    package func drain(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while outstandingRecords > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = outstandingRecords
        if left > 0 {
            // Their delivery reports (ERR__PURGE_*) fail the waiting devices.
            _ = rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        }
        return left
    }

    /// Stops the poll thread; call after `drain`.
    package func close() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        pollStopped.wait()
    }

    deinit {
        for topic in topicHandles { rd_kafka_topic_destroy(topic) }
        rd_kafka_destroy(handle)
    }
}

extension MessageKind {
    /// The kind's index in `allCases`: where its topic handle is.
    fileprivate var topicSlot: Int {
        switch self {
        case .telemetry: 0
        case .attributes: 1
        case .rpcResponse: 2
        case .clientRPC: 3
        case .connectivity: 4
        case .rpcState: 5
        }
    }
}

extension TransportKind {
    /// `rawValue` as a static C string, for the `transport` header.
    fileprivate var headerValue: StaticString {
        switch self {
        case .http: "http"
        case .mqtt: "mqtt"
        case .coap: "coap"
        case .lwm2m: "lwm2m"
        case .mqttBridge: "mqtt_bridge"
        case .gateway: "gateway"
        }
    }
}

extension PendingDelivery {
    /// The pending delivery of `message`, or nil for a one-record message
    /// nobody waits for (its record carries an `UnansweredRecord` opaque).
    fileprivate static func unlessUnanswered(_ message: GatewayMessage) -> PendingDelivery? {
        if !message.completion.awaitsAnswer, message.entries.count == 1 { return nil }
        return PendingDelivery(completion: message.completion, records: message.entries.count, enqueuedAt: message.enqueuedAt)
    }
}
