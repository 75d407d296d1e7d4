import ArgumentParser
import Backoff
import Foundation
import Logging
import Messaging
import ServiceRuntime
import Synchronization

/// `skinr1 bench bus`: produce -> consume throughput through an in-process embedded broker.
struct BenchBus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Bus throughput (produce -> consume through the embedded broker) for 1 KiB and 64 KiB messages.",
        discussion: "Prints one line per size: 'bus <size>: <N> msg/s <M> MB/s' (MB = 10^6 bytes).")

    @Option(help: "Messages of 1 KiB to send.") var smallCount: Int = 50_000
    @Option(help: "Messages of 64 KiB to send.") var largeCount: Int = 3_000
    @Option(help: "Partitions of the benchmark topics.") var partitions: Int = 4

    func validate() throws {
        guard smallCount >= 1, largeCount >= 1 else { throw ValidationError("message counts must be positive") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
    }

    func run() async throws {
        var logger = Logger(label: "skinr1.bench.bus")
        logger.logLevel = .warning
        let broker = try EmbeddedBroker(brokers: 1, defaultPartitions: partitions, logger: logger)
        defer { broker.shutdown() }
        for (label, size, count) in [("1KiB", 1024, smallCount), ("64KiB", 64 * 1024, largeCount)] {
            let seconds = try await measure(broker: broker, size: size, count: count, logger: logger)
            let rate = Double(count) / seconds
            let megabytes = Double(count * size) / 1e6 / seconds
            Console.line("bus \(label): \(Int(rate.rounded())) msg/s \(String(format: "%.1f", megabytes)) MB/s")
        }
    }

    /// Seconds from the first send until the consumer has read every message; producer and
    /// consumer run at the same time, as in the pipeline.
    private func measure(broker: EmbeddedBroker, size: Int, count: Int, logger: Logger) async throws -> Double {
        let topic = "bench.bus.\(size).\(UUID().uuidString.prefix(8))"
        try broker.createTopic(topic, partitions: partitions)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let consumer = try KafkaConsumer(
            configuration: connection,
            consumer: KafkaConsumerConfiguration(groupID: "bench-\(topic)", sessionTimeout: .seconds(6),
                                                 heartbeatInterval: .milliseconds(500), fetchMaxWait: .milliseconds(10),
                                                 bufferCapacity: 5_000),
            topics: [topic], logger: logger)
        // Time the steady state, not the group join.
        for await event in consumer.events {
            if case .assigned(let assigned) = event, !assigned.isEmpty { break }
        }
        let producer = try KafkaProducer(configuration: connection, logger: logger)
        let value = [UInt8](repeating: 0x61, count: size)
        let messages = (0..<count).map { KafkaProducerMessage(topic: topic, key: "k\($0)", value: value) }
        // The mock broker keeps only ~5 MiB per partition, so the producer runs at most two
        // windows ahead of the consumer (as the pipeline's staleness bound keeps it anyway).
        let window = max(1, min(10_000, partitions * 2 * 1024 * 1024 / size))
        let received = ReceivedCounter()

        let start = ContinuousClock.now
        async let sent: Void = produce(messages, window: window, producer: producer, received: received)
        while received.value < count {
            guard let batch = try await consumer.nextBatch(maxCount: 5_000, maxWait: .seconds(30)) else { break }
            if batch.isEmpty { throw BusFailure("bench stalled: \(received.value) of \(count) messages received") }
            received.add(batch.count)
        }
        let elapsed = ContinuousClock.now - start
        try await sent
        try await producer.shutdown()
        await consumer.close()
        let total = received.value
        guard total >= count else { throw BusFailure("consumer ended after \(total) of \(count) messages") }
        return elapsed.seconds
    }

    private func produce(_ messages: [KafkaProducerMessage], window: Int, producer: KafkaProducer,
                         received: ReceivedCounter) async throws {
        for start in stride(from: 0, to: messages.count, by: window) {
            while received.value < start - window { try await Task.sleep(for: .milliseconds(1)) }
            _ = try await producer.sendAll(Array(messages[start..<min(start + window, messages.count)]))
        }
    }
}

/// Messages the bench consumer has read, shared with the producing task.
private final class ReceivedCounter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add(_ amount: Int) { count.withLock { $0 += amount } }
}
