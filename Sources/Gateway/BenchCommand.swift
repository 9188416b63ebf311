import ArgumentParser
import Auth
import Bench
import Foundation
import KafkaSink
import ProcessorAPI

/// `tb-gateway bench`: the load generator (issue 8): load drivers for
/// MQTT, HTTP and CoAP, and the verifier that reads their records back.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load generator and its verifier.",
        subcommands: [MQTT.self, HTTP.self, CoAP.self, Verify.self]
    )

    /// Reads a topic after a run and checks, per device, that every
    /// sequence number is there exactly once and in order. Blocking (a
    /// command-line tool), so not async.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a topic: every device's sequence numbers exactly once and in order; latency from send time to record time.")

        @Option(help: "Kafka bootstrap servers, host:port[,…].")
        var bootstrapServers: String

        @Option(help: "The topic to read.")
        var topic = "tb.telemetry"

        @Option(help: "File of acknowledged messages, one '<device id or name> <seq>' per line (bench mqtt|http|coap --acknowledged writes it with tokens, which --provision uses as names); without it 1 to the highest seq of each device is expected.")
        var acknowledged: String?

        @Option(help: "Seconds to read the topic to its end.")
        var timeout = 60

        @Flag(help: "One JSON object instead of text.")
        var json = false

        func run() throws {
            let records: [KafkaTopicRecord]
            do {
                records = try KafkaTopicReader.readAll(bootstrapServers: bootstrapServers, topic: topic, timeout: .seconds(timeout))
            } catch {
                printError("bench verify: \(error)")
                throw ExitCode(2)
            }
            var verifier = SequenceVerifier()
            var unreadable = 0
            var ids: [String: String] = [:]
            for record in records {
                guard let parsed = BenchRecord(record) else {
                    unreadable += 1
                    continue
                }
                if let name = parsed.name { ids[name] = parsed.device }
                verifier.add(device: parsed.device, seq: parsed.seq, sentAt: parsed.sentAt, recordedAt: record.timestamp)
            }
            // Devices named in the file are found by id or, failing that, by name.
            let expected = try acknowledged.map(Self.readAcknowledged).map { file in
                Dictionary(file.map { (ids[$0.key] ?? $0.key, $0.value) }, uniquingKeysWith: +)
            }
            let reports = verifier.reports(acknowledged: expected)
            let summary = BenchVerifySummary(records: records.count, unreadable: unreadable, reports: reports, latency: verifier.latency)
            print(json ? summary.json : summary.text)  // allowed: CLI output
            if !summary.passed { throw ExitCode(1) }
        }

        static func readAcknowledged(_ path: String) throws -> [String: [Int]] {
            guard let data = FileManager.default.contents(atPath: path) else {
                printError("bench verify: cannot read \(path)")
                throw ExitCode(2)
            }
            var acknowledged: [String: [Int]] = [:]
            for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let seq = Int(parts[1]) else {
                    printError("bench verify: \(path): '\(line)' is not '<device id> <seq>'")
                    throw ExitCode(2)
                }
                acknowledged[String(parts[0]), default: []].append(seq)
            }
            return acknowledged
        }
    }
}

/// The device, sequence number and send time of one gateway record:
/// the key (device id) and `values.seq` / `values.ts` of the bench payload.
struct BenchRecord {
    let device: String
    let name: String?
    let seq: Int
    let sentAt: Int64?

    init?(_ record: KafkaTopicRecord) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(record.value))) as? [String: Any],
            let values = object["values"] as? [String: Any], let seq = (values["seq"] as? NSNumber)?.intValue,
            let device = record.key ?? (object["deviceId"] as? String)
        else { return nil }
        self.device = device
        self.name = object["deviceName"] as? String
        self.seq = seq
        self.sentAt = (values["ts"] as? NSNumber)?.int64Value
    }
}

struct BenchVerifySummary {
    let records: Int
    let unreadable: Int
    let reports: [String: SequenceVerifier.DeviceReport]
    let latency: LatencyHistogram

    var missing: Int { reports.values.map(\.missing.count).reduce(0, +) }
    var duplicates: Int { reports.values.map(\.duplicates.count).reduce(0, +) }
    var outOfOrder: Int { reports.values.map(\.outOfOrder.count).reduce(0, +) }
    var passed: Bool { missing == 0 && duplicates == 0 && outOfOrder == 0 }

    private func milliseconds(_ microseconds: UInt64) -> String { String(format: "%.1f", Double(microseconds) / 1000) }

    var text: String {
        var lines = [
            "records \(records) (\(unreadable) without a bench seq), devices \(reports.count)",
            "missing \(missing), duplicates \(duplicates), out of order \(outOfOrder): \(passed ? "PASS" : "FAIL")",
        ]
        if latency.count > 0 {
            lines.append("end-to-end latency ms: p50 \(milliseconds(latency.percentile(50))) p90 \(milliseconds(latency.percentile(90))) p99 \(milliseconds(latency.percentile(99))) max \(milliseconds(latency.max))")
        }
        for (device, report) in reports.sorted(by: { $0.key < $1.key }) where report.missing.count + report.duplicates.count + report.outOfOrder.count > 0 {
            lines.append("  \(device): missing \(report.missing.prefix(20)) duplicates \(report.duplicates.prefix(20)) out of order \(report.outOfOrder.prefix(20))")
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let problems = reports.sorted { $0.key < $1.key }.filter { $0.value.missing.count + $0.value.duplicates.count + $0.value.outOfOrder.count > 0 }
            .map { device, report in
                JSONEscaping.quoted(device) + ":{\"missing\":\(report.missing.prefix(100)),\"duplicates\":\(report.duplicates.prefix(100)),\"outOfOrder\":\(report.outOfOrder.prefix(100))}"
            }
        let latencyJSON = latency.count == 0 ? "null" :
            #"{"p50":\#(milliseconds(latency.percentile(50))),"p90":\#(milliseconds(latency.percentile(90))),"p99":\#(milliseconds(latency.percentile(99))),"max":\#(milliseconds(latency.max))}"#
        return #"{"records":\#(records),"unreadable":\#(unreadable),"devices":\#(reports.count),"missing":\#(missing),"duplicates":\#(duplicates),"outOfOrder":\#(outOfOrder),"passed":\#(passed),"latencyMs":\#(latencyJSON),"problems":{\#(problems.joined(separator: ","))}}"#
    }
}
