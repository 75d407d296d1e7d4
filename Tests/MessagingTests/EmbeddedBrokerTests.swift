import Foundation
import Testing
@testable import Messaging

@Suite("Embedded broker and clients", .timeLimit(.minutes(2)))
struct EmbeddedBrokerTests {
    @Test func producerSendAwaitsDeliveryReportWithOffset() async throws {
        let broker = try EmbeddedBroker(brokers: 1)
        defer { broker.shutdown() }
        let topic = uniqueTopic("delivery")
        try broker.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: testLogger)
        var reports: [KafkaDeliveryReport] = []
        for index in 0..<3 {
            reports.append(try await producer.send(KafkaProducerMessage(topic: topic, key: "k\(index)",
                                                                        value: Array("v\(index)".utf8))))
        }
        try await producer.shutdown()
        #expect(reports.map(\.offset) == [0, 1, 2])
        #expect(reports.allSatisfy { $0.topic == topic && $0.partition == 0 })
    }

    /// A partition holds a batch in the order it was given (the synthesizer's seeded prompt
    /// order depends on it), also when the in-flight bound makes sendAll wait part way.
    @Test(arguments: [10_000, 7])
    func sendAllKeepsInputOrderWithinAPartition(maxInFlight: Int) async throws {
        let broker = try EmbeddedBroker(brokers: 1)
        defer { broker.shutdown() }
        let topic = uniqueTopic("order")
        try broker.createTopic(topic, partitions: 1)
        let connection = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let producer = try KafkaProducer(configuration: connection, logger: testLogger)
        let reports = try await producer.sendAll((0..<300).map {
            KafkaProducerMessage(topic: topic, key: "k\($0)", value: Array("v\($0)".utf8))
        }, maxInFlight: maxInFlight)
        try await producer.shutdown()
        #expect(reports.map(\.offset) == (0..<300).map(Int64.init))

        let consumer = try KafkaConsumer(configuration: connection, consumer: testConsumerConfiguration(group: "group-\(topic)"),
                                         topics: [topic], logger: testLogger)
        let read = try await collect(consumer, count: 300)
        await consumer.close()
        #expect(read.map(\.keyString) == (0..<300).map { "k\($0)" })
    }

    @Test func mockClusterFacts() async throws {
        let broker = try EmbeddedBroker(brokers: 3, defaultPartitions: 6)
        defer { broker.shutdown() }
        let configuration = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let admin = try KafkaAdmin(configuration: configuration, logger: testLogger)

        // librdkafka 2.0.2's mock names no controller, so CreateTopics cannot be answered.
        let adminTopic = uniqueTopic("admin")
        let refusal = await #expect(throws: KafkaError.self) {
            try await admin.createTopics([TopicSpec(name: adminTopic, partitions: 3)], timeout: .seconds(5))
        }
        #expect(refusal?.code == .timedOut)
        #expect(refusal?.message.contains("controller") == true)

        // The embedded path creates with the requested count, and is idempotent.
        let made = uniqueTopic("made")
        #expect(try broker.createTopic(made) == .created)
        #expect(try broker.createTopic(made, partitions: 2) == .alreadyExisted)

        // A topic a producer auto-creates gets the mock's own default.
        let auto = uniqueTopic("auto")
        let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
        _ = try await producer.send(KafkaProducerMessage(topic: auto, key: "a", value: [1]))
        try await producer.shutdown()

        let counts = try await admin.partitionCounts()
        #expect(counts[made] == 6)
        #expect(counts[auto] == 4)
        #expect(counts[adminTopic] == nil)
    }
}
