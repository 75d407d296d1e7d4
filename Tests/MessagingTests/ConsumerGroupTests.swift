import Foundation
import Testing
@testable import Messaging

@Suite("Consumer groups on the embedded broker", .timeLimit(.minutes(3)))
struct ConsumerGroupTests {
    @Test func manualCommitIsWhereTheGroupResumes() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = uniqueTopic("commit")
        try broker.createTopic(topic, partitions: 1)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let producer = try KafkaProducer(configuration: connection, logger: testLogger)
        let headers = [KafkaHeader(key: "trace", string: "abc")]
        _ = try await producer.sendAll((0..<10).map {
            KafkaProducerMessage(topic: topic, key: "k\($0)", value: Array("v\($0)".utf8), headers: headers)
        })
        try await producer.shutdown()

        let group = "group-\(topic)"
        let first = try KafkaConsumer(configuration: connection, consumer: testConsumerConfiguration(group: group),
                                      topics: [topic], logger: testLogger)
        let read = try await collect(first, count: 10)
        #expect(read.map(\.offset) == Array(0..<10))
        #expect(read[3].keyString == "k3" && read[3].valueString == "v3")
        #expect(read[3].headers == headers)
        #expect(read[3].timestamp != nil)
        try await first.commit(read[4])
        let committed = try await first.committed([KafkaTopicPartition(topic: topic, partition: 0)])
        #expect(committed.map(\.offset) == [5])
        await first.close()

        let second = try KafkaConsumer(configuration: connection, consumer: testConsumerConfiguration(group: group),
                                       topics: [topic], logger: testLogger)
        let resumed = try await collect(second, count: 5)
        await second.close()
        #expect(resumed.map(\.offset) == [5, 6, 7, 8, 9])
    }

    @Test func seekBeforeAssignmentStartsThereAndEventsReportAssignment() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = uniqueTopic("seek")
        try broker.createTopic(topic, partitions: 2)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let producer = try KafkaProducer(configuration: connection, logger: testLogger)
        _ = try await producer.sendAll((0..<20).map {
            KafkaProducerMessage(topic: topic, partition: Int32($0 % 2), key: "k\($0)", value: [UInt8($0)])
        })
        try await producer.shutdown()

        let consumer = try KafkaConsumer(configuration: connection,
                                         consumer: testConsumerConfiguration(group: "group-\(topic)"),
                                         topics: [topic], logger: testLogger)
        // As a learner restoring a checkpoint would: partition 0 from offset 7, partition 1 from 9.
        try await consumer.seek(topic: topic, partition: 0, offset: 7)
        try await consumer.seek(topic: topic, partition: 1, offset: 9)
        let read = try await collect(consumer, count: 4)
        var events = consumer.events.makeAsyncIterator()
        let event = await events.next()
        await consumer.close()
        #expect(Set(read.map { "\($0.partition)@\($0.offset)" }) == ["0@7", "0@8", "0@9", "1@9"])
        #expect(event == .assigned([KafkaTopicPartition(topic: topic, partition: 0),
                                    KafkaTopicPartition(topic: topic, partition: 1)]))
    }

    @Test func pausedPartitionDeliversNothingUntilResumed() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = uniqueTopic("pause")
        try broker.createTopic(topic, partitions: 1)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let producer = try KafkaProducer(configuration: connection, logger: testLogger)
        let consumer = try KafkaConsumer(configuration: connection,
                                         consumer: testConsumerConfiguration(group: "group-\(topic)"),
                                         topics: [topic], logger: testLogger)
        _ = try await producer.send(KafkaProducerMessage(topic: topic, key: "before", value: [1]))
        #expect(try await collect(consumer, count: 1).map(\.keyString) == ["before"])

        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        try await consumer.pause([partition])
        _ = try await producer.send(KafkaProducerMessage(topic: topic, key: "during", value: [2]))
        let whilePaused = try await collect(consumer, count: 1, timeout: .seconds(2))
        try await consumer.resume([partition])
        let afterResume = try await collect(consumer, count: 1)
        try await producer.shutdown()
        await consumer.close()
        #expect(whilePaused.isEmpty)
        #expect(afterResume.map(\.keyString) == ["during"])
    }
}
