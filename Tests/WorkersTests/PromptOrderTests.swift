import Foundation
import Logging
import Messaging
import Testing
@testable import Workers

/// Prompts published epoch by epoch reach a rollout worker close to that order, whichever
/// partition they are in.
@Suite("Prompt order on the embedded broker", .timeLimit(.minutes(4)))
struct PromptOrderTests {
    /// Publishes `epochs` epochs of `perEpoch` prompt-sized messages keyed as prompts are (so
    /// the partitioner spreads them), in chunks of 1,000 as the synthesizer sends them, then
    /// reads the first `count` as a rollout worker does (a few at a time through its buffer)
    /// and returns the epoch of each.
    private func epochsRead(producer producerSettings: KafkaProducerConfiguration, consumer consumerSettings: KafkaConsumerConfiguration,
                            partitions: Int, epochs: Int, perEpoch: Int, count: Int) async throws -> [Int] {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = "test.prompts.\(UUID().uuidString.prefix(8).lowercased())"
        try broker.createTopic(topic, partitions: partitions)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        var logger = Logger(label: "skinr1.test.prompt-order")
        logger.logLevel = .warning

        let producer = try KafkaProducer(configuration: connection, producer: producerSettings, logger: logger)
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 1_700)
        let messages = (0..<epochs).flatMap { epoch in
            (0..<perEpoch).map { KafkaProducerMessage(topic: topic, key: "\(epoch):prompt-\($0)", value: filler) }
        }
        for start in stride(from: 0, to: messages.count, by: 1_000) {
            _ = try await producer.sendAll(Array(messages[start..<min(start + 1_000, messages.count)]), maxInFlight: 1_000)
        }
        try await producer.shutdown()

        let consumer = try KafkaConsumer(configuration: connection, consumer: consumerSettings, topics: [topic], logger: logger)
        var read: [KafkaConsumerMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while read.count < count, ContinuousClock.now < deadline {
            guard let batch = try await consumer.nextBatch(maxCount: 4, maxWait: .milliseconds(200)) else { break }
            read += batch
            try await Task.sleep(for: .milliseconds(3))  // a worker samples between reads
        }
        await consumer.close()
        return read.prefix(count).compactMap { $0.keyString?.split(separator: ":").first.flatMap { Int($0) } }
    }

    @Test func aWorkerFinishesAnEpochAcrossPartitionsBeforeTheNext() async throws {
        // The quick profile's prompts topic: eight partitions, four epochs of 1,853 prompts, of
        // which a run samples 808.
        let read = try await epochsRead(producer: PromptOrder.producer,
                                        consumer: PromptOrder.consumer(groupID: "workers", prefetch: PromptOrder.workerPrefetch),
                                        partitions: 8, epochs: 4, perEpoch: 1_853, count: 808)
        #expect(read.count == 808)
        #expect(read.filter { $0 > 0 }.isEmpty, "later-epoch prompts among the first 808: \(read.filter { $0 > 0 }.count)")

        // With librdkafka's batch and fetch sizes and a quarter of the buffer, each partition
        // still gets its turn: the consumer pauses a partition at its share of the buffer, not
        // all of them when it is full (which read 485 later-epoch prompts among the first 808).
        var plain = PromptOrder.consumer(groupID: "workers", prefetch: 16)
        plain.maxPartitionFetchBytes = KafkaConsumerConfiguration(groupID: "defaults").maxPartitionFetchBytes
        let small = try await epochsRead(producer: KafkaProducerConfiguration(), consumer: plain,
                                         partitions: 8, epochs: 4, perEpoch: 1_853, count: 808)
        #expect(small.count == 808)
        #expect(small.filter { $0 > 0 }.isEmpty, "later-epoch prompts with the defaults and a buffer of 16: \(small.filter { $0 > 0 }.count)")
    }
}
