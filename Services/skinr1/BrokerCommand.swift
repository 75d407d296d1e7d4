import ArgumentParser
import Dispatch
import Foundation
import Logging
import Messaging
import ServiceRuntime

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker", abstract: "Host the embedded Kafka-protocol broker until SIGTERM.",
        discussion: """
            Prints the bootstrap servers on one line of stdout, then serves until SIGTERM or SIGINT. \
            The product's topics and every --topic are created with --partitions partitions; topics \
            that clients auto-create get librdkafka's mock default of 4. Messages are kept in memory only.
            """)

    @Option(help: "Number of brokers in the cluster.")
    var brokers: Int = 1

    @Option(help: "Partitions of each topic created at start.")
    var partitions: Int = 4

    @Option(help: "Also write the bootstrap servers to this file (written to a temporary file, then renamed).")
    var bootstrapFile: String?

    @Option(name: .customLong("topic"), help: "Create this topic at start, as NAME or NAME:PARTITIONS (repeatable).")
    var topics: [String] = []

    @Flag(help: "Do not create the product's topics (skinr1.*) at start.")
    var noProductTopics = false

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1, got \(brokers)") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1, got \(partitions)") }
        _ = try topicSpecs()
    }

    func run() async throws {
        let logger = Logger(label: "skinr1.broker")
        // Signals are routed to a dispatch source rather than killing the process, so the
        // cluster is destroyed before exit.
        let stop = TerminationSignal()
        let broker = try EmbeddedBroker(brokers: brokers, defaultPartitions: partitions, logger: logger)
        try broker.createTopics(topicSpecs())
        Console.line(broker.bootstrapServers)
        if let bootstrapFile {
            try writeAtomically(broker.bootstrapServers + "\n", to: bootstrapFile)
        }
        let signal = await stop.wait()
        logger.info("stopping the embedded broker", metadata: ["signal": "\(signal.map(String.init) ?? "-")"])
        broker.shutdown()
    }

    private func topicSpecs() throws -> [TopicSpec] {
        var specs = noProductTopics ? [] : TopicName.all.map { TopicSpec(name: $0, partitions: partitions) }
        for entry in topics {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let name = parts.first, !name.isEmpty else {
                throw ValidationError("--topic '\(entry)' is not NAME or NAME:PARTITIONS")
            }
            var count = partitions
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed >= 1 else {
                    throw ValidationError("--topic '\(entry)': partition count must be a positive integer")
                }
                count = parsed
            }
            specs.append(TopicSpec(name: String(name), partitions: count))
        }
        return specs
    }

    private func writeAtomically(_ text: String, to path: String) throws {
        let target = URL(fileURLWithPath: path)
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        try Data(text.utf8).write(to: temporary)
        guard rename(temporary.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw BusFailure("could not move the bootstrap file into place at \(path): \(reason)")
        }
    }
}

