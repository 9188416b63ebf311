import CRdKafka
import Logging
import NIOCore
import ProcessorAPI
import Synchronization

/// The context librdkafka hands back to its C callbacks (the conf opaque).
///
/// Delivery reports arrive on the poll thread, inside `rd_kafka_poll`; they
/// are collected in `reports` and settled after the poll returns, so one poll
/// completes its acks as one batch.
final class KafkaCallbacks: @unchecked Sendable {
    // @unchecked: `reports`, the unanswered counts and `enqueuedNanoseconds`
    // are touched only by the poll thread (callbacks run inside
    // rd_kafka_poll there); everything else is immutable or atomic.
    var reports: [(PendingDelivery, rd_kafka_resp_err_t)] = []
    /// Reports on records nobody waits for (`UnansweredRecord`), by outcome:
    /// counted, never completed.
    var unansweredDelivered = 0
    var unansweredFailed: [rd_kafka_resp_err_t] = []
    /// When each delivered message was enqueued, answered or not, in
    /// nanoseconds since `UnansweredRecord.epoch`, for the latency histogram.
    var enqueuedNanoseconds: [Int64] = []
    let logger: Logger
    let metrics: GatewayMetrics
    /// Set by the error callback while librdkafka reports every broker down.
    let allBrokersDown = Atomic<Bool>(false)

    init(logger: Logger, metrics: GatewayMetrics) {
        self.logger = logger
        self.metrics = metrics
    }

    /// What a delivery-report code means for the device's message.
    private func outcome(of code: rd_kafka_resp_err_t) -> DeliveryOutcome {
        switch code {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            return .delivered
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            return .failed(.sinkTimeout)
        default:
            logger.warning("Kafka refused a record", metadata: ["error": "\(String(cString: rd_kafka_err2str(code)))"])
            return .failed(.sinkError)
        }
    }

    /// A failed message: counted as dropped and as a sink error.
    private func countFailure(_ outcome: DeliveryOutcome) {
        guard case .failed(let reason) = outcome else { return }
        metrics.dropped(reason)
        metrics.error(.sink)
    }

    /// Settles the reports of one poll: completions bound to an event loop
    /// are grouped so each loop gets its list in one `execute`.
    func settleReports() {
        guard !reports.isEmpty || unansweredDelivered > 0 || !unansweredFailed.isEmpty else { return }
        var perLoop: [ObjectIdentifier: (loop: any EventLoop, completions: [(any DeliveryCompletion, DeliveryOutcome)])] = [:]
        var elsewhere: [(any DeliveryCompletion, DeliveryOutcome)] = []
        var delivered = unansweredDelivered
        for code in unansweredFailed { countFailure(outcome(of: code)) }
        unansweredDelivered = 0
        unansweredFailed.removeAll(keepingCapacity: true)
        for (pending, code) in reports {
            guard let decided = pending.settle(outcome(of: code)) else { continue }
            switch decided {
            case .delivered:
                delivered += 1
                enqueuedNanoseconds.append(UnansweredRecord.nanoseconds(since: pending.enqueuedAt))
            case .failed:
                countFailure(decided)
            }
            if let loop = pending.completion.eventLoop {
                perLoop[ObjectIdentifier(loop), default: (loop, [])].completions.append((pending.completion, decided))
            } else {
                elsewhere.append((pending.completion, decided))
            }
        }
        reports.removeAll(keepingCapacity: true)
        // One clock read and one counter update per poll, not per record,
        // and before any device hears of its delivery.
        if !enqueuedNanoseconds.isEmpty {
            metrics.sinkLatencies(sink: "kafka", enqueuedNanoseconds: enqueuedNanoseconds,
                                  now: UnansweredRecord.nanoseconds(since: .now))
            enqueuedNanoseconds.removeAll(keepingCapacity: true)
        }
        if delivered > 0 { metrics.sent(sink: "kafka", count: delivered) }
        for (completion, outcome) in elsewhere { completion.complete(outcome) }
        for (_, batch) in perLoop {
            let completions = batch.completions
            batch.loop.execute {
                for (completion, outcome) in completions { completion.completeOnEventLoop(outcome) }
            }
        }
        if allBrokersDown.exchange(false, ordering: .relaxed) {
            logger.notice("Kafka: delivery reports flow again")
        }
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> KafkaCallbacks? {
        guard let opaque else { return nil }
        return Unmanaged<KafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// Installs the delivery-report, error and log callbacks on `conf`.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let callbacks = KafkaCallbacks.from(opaque),
                let record = message.pointee._private
            else { return }
            if let enqueued = UnansweredRecord.enqueuedNanoseconds(record) {
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    callbacks.unansweredDelivered += 1
                    callbacks.enqueuedNanoseconds.append(enqueued)
                } else {
                    callbacks.unansweredFailed.append(message.pointee.err)
                }
                return
            }
            let pending = Unmanaged<PendingDelivery>.fromOpaque(record).takeRetainedValue()
            callbacks.reports.append((pending, message.pointee.err))
        }
        rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
            guard let callbacks = KafkaCallbacks.from(opaque) else { return }
            let text = reason.map { String(cString: $0) } ?? ""
            if code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue {
                if !callbacks.allBrokersDown.exchange(true, ordering: .relaxed) {
                    callbacks.logger.warning("Kafka: all brokers are down", metadata: ["reason": "\(text)"])
                }
            } else {
                callbacks.logger.warning("Kafka error", metadata: ["reason": "\(text)"])
            }
        }
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, text in
            guard let handle, let callbacks = KafkaCallbacks.from(rd_kafka_opaque(handle)) else { return }
            let message = text.map { String(cString: $0) } ?? ""
            let source = facility.map { String(cString: $0) } ?? ""
            // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
            let logLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            callbacks.logger.log(level: logLevel, "librdkafka: \(message)", metadata: ["facility": "\(source)"])
        }
    }
}
