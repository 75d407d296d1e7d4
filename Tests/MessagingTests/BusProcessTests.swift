import Foundation
import Testing
@testable import Messaging
import TestSupport

/// End to end with real processes: `skinr1 broker`, two `skinr1 bus consume` in one group,
/// one of them SIGKILLed midway. Every key must survive (at-least-once); duplicates are
/// allowed and reported.
@Suite("Bus processes", .serialized, .timeLimit(.minutes(5)))
struct BusProcessTests {
    @Test func everyKeySurvivesAConsumerKilledMidway() async throws {
        let binary = try skinr1Binary()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("skinr1-bus-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let children = ChildProcesses()
        defer { children.killAll() }

        let topic = uniqueTopic("process")
        let total = 20_000
        let bootstrapFile = directory.appendingPathComponent("bootstrap")
        let broker = try children.launch(binary, ["broker", "--partitions", "2", "--topic", "\(topic):6",
                                                  "--bootstrap-file", bootstrapFile.path],
                                         log: directory.appendingPathComponent("broker.log"))
        let bootstrap = try await waitForFile(bootstrapFile, timeout: .seconds(20))
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(bootstrap.hasPrefix("127.0.0.1:"))

        // Group timings short enough that the survivor takes over within seconds.
        let environment = ["KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"]
        let group = "group-\(topic)"
        var outputs: [URL] = []
        var consumers: [Process] = []
        for name in ["a", "b"] {
            let out = directory.appendingPathComponent("keys-\(name).txt")
            outputs.append(out)
            consumers.append(try children.launch(
                binary, ["bus", "consume", "--bootstrap-servers", bootstrap, "--topic", topic, "--group", group,
                         "--out", out.path, "--idle-exit", "20"],
                environment: environment, log: directory.appendingPathComponent("consume-\(name).log")))
        }
        for name in ["a", "b"] {
            _ = try await waitForText("partitions assigned", in: directory.appendingPathComponent("consume-\(name).log"),
                                      timeout: .seconds(30))
        }

        // Produce in chunks; kill consumer a once it has written keys and while more keep coming.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap),
                                         logger: testLogger)
        let chunk = 1_000
        var linesWhenKilled = -1
        for start in stride(from: 0, to: total, by: chunk) {
            _ = try await producer.sendAll((start..<min(start + chunk, total)).map {
                KafkaProducerMessage(topic: topic, key: "key-\($0)", value: Array("payload \($0)".utf8))
            })
            if linesWhenKilled < 0, start >= 4 * chunk {
                let deadline = ContinuousClock.now + .seconds(20)
                while lineCount(outputs[0]) == 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                kill(consumers[0].processIdentifier, SIGKILL)
                consumers[0].waitUntilExit()
                linesWhenKilled = lineCount(outputs[0])
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await producer.shutdown()

        // The survivor drains everything, then exits after 20 s without messages.
        try await waitForExit(consumers[1], timeout: .seconds(150))
        #expect(consumers[1].terminationStatus == 0)
        #expect(consumers[0].terminationReason == .uncaughtSignal)

        var seen: [String: Int] = [:]
        for output in outputs {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            for key in text.split(separator: "\n") { seen[String(key), default: 0] += 1 }
        }
        let missing = (0..<total).filter { seen["key-\($0)"] == nil }
        let duplicates = seen.values.reduce(0) { $0 + max($1 - 1, 0) }
        print("bus process test: consumer a wrote \(linesWhenKilled) keys before SIGKILL; "
              + "\(seen.count) distinct keys, \(missing.count) missing, \(duplicates) duplicate lines")
        if missing.count > 0 || linesWhenKilled <= 0 {
            for name in ["a", "b"] {
                let log = (try? String(contentsOf: directory.appendingPathComponent("consume-\(name).log"),
                                       encoding: .utf8)) ?? "(no log)"
                print("consumer \(name)'s log, last lines:\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n"))
            }
        }
        #expect(linesWhenKilled > 0 && linesWhenKilled < total, "consumer a must die midway")
        #expect(missing.isEmpty, "missing keys, first: \(missing.prefix(10))")
        #expect(seen.count == total)

        // SIGTERM stops the broker cleanly.
        kill(broker.processIdentifier, SIGTERM)
        try await waitForExit(broker, timeout: .seconds(30))
        #expect(broker.terminationReason == .exit && broker.terminationStatus == 0)
    }
}
