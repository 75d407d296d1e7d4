import Foundation
import Synchronization
import Testing
@testable import Messaging

struct DeadLetterTestScore: Codable, Sendable, Equatable {
    var group: String
    var reward: Double
}

@Suite("Dead letters", .timeLimit(.minutes(2)))
struct DeadLetterTests {
    @Test func undecodableMessageIsDeadLetteredAndTheNextOneProcessed() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = Topic<DeadLetterTestScore>(uniqueTopic("scored"), schema: "skinr1.rl.scored", version: 1)
        try broker.createTopic(topic.name, partitions: 1)
        try broker.createTopic(TopicName.deadLetter, partitions: 1)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let producer = try KafkaProducer(configuration: connection, logger: testLogger)
        _ = try await producer.send(topic, key: "g1", value: DeadLetterTestScore(group: "g1", reward: 0.5))
        let garbage = Array("{\"schema\": \"skinr1.rl.scored\", \"version\": 1, \"payload\": 42}".utf8)
        _ = try await producer.send(KafkaProducerMessage(topic: topic.name, key: "g2", value: garbage))
        _ = try await producer.send(topic, key: "g3", value: DeadLetterTestScore(group: "g3", reward: 1))

        let consumer = try KafkaConsumer(configuration: connection,
                                         consumer: testConsumerConfiguration(group: "scorers-\(topic.name)"),
                                         topics: [topic.name], logger: testLogger)
        let typed = TypedConsumer(topic: topic, consumer: consumer,
                                  deadLetters: DeadLetterPublisher(producer: producer, logger: testLogger))
        let handled = Mutex<[DeadLetterTestScore]>([])
        let loop = Task {
            try await typed.run { score, _ in handled.withLock { $0.append(score) } }
        }
        let partition = KafkaTopicPartition(topic: topic.name, partition: 0)
        let deadline = ContinuousClock.now + .seconds(30)
        var committed: Int64 = -1
        while ContinuousClock.now < deadline {
            committed = try await consumer.committed([partition]).first?.offset ?? -1
            if committed == 3 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        loop.cancel()
        let outcome = await loop.result
        await consumer.close()

        #expect(committed == 3)
        #expect(handled.withLock { $0 } == [DeadLetterTestScore(group: "g1", reward: 0.5), DeadLetterTestScore(group: "g3", reward: 1)])
        #expect(throws: CancellationError.self) { try outcome.get() }

        let reader = try KafkaConsumer(configuration: connection,
                                       consumer: testConsumerConfiguration(group: "audit-\(topic.name)"),
                                       topics: [TopicName.deadLetter], logger: testLogger)
        let letters = try await collect(reader, count: 1)
        await reader.close()
        try await producer.shutdown()
        let message = try #require(letters.first)
        #expect(message.keyString == "g2")
        let letter = try DeadLetter.topic.decode(message.value)
        #expect(letter.originTopic == topic.name)
        #expect(letter.originPartition == 0)
        #expect(letter.originOffset == 1)
        #expect(letter.error.contains("payload does not match skinr1.rl.scored v1"))
        #expect(letter.payloadBytes == garbage)
    }
}
