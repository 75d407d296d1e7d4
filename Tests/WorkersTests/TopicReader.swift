import Foundation
import Logging
import Messaging

/// Reads `topic` from the start in a fresh consumer group until `count` messages arrived or
/// `timeout` passed (shared by the worker tests' benches).
func readTopic(_ topic: String, kafka: KafkaConfiguration, count: Int, timeout: Duration,
               logger: Logger) async throws -> [KafkaConsumerMessage] {
    let consumer = try KafkaConsumer(
        configuration: kafka,
        consumer: KafkaConsumerConfiguration(groupID: "test.reader.\(UUID().uuidString.prefix(8))",
                                             sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500)),
        topics: [topic], logger: logger)
    var received: [KafkaConsumerMessage] = []
    let deadline = ContinuousClock.now + timeout
    while received.count < count, ContinuousClock.now < deadline {
        guard let batch = try await consumer.nextBatch(maxCount: 1_000, maxWait: .milliseconds(200)) else { break }
        received += batch
    }
    await consumer.close()
    return received
}
