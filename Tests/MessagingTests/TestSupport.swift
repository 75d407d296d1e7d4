import Foundation
import Logging
@testable import Messaging

/// A topic name no other test uses.
func uniqueTopic(_ purpose: String) -> String {
    "test.\(purpose).\(UUID().uuidString.prefix(8).lowercased())"
}

let testLogger: Logger = {
    var logger = Logger(label: "skinr1.test.messaging")
    logger.logLevel = .warning
    return logger
}()

/// Fast group settings so tests do not wait for librdkafka's production timeouts.
func testConsumerConfiguration(group: String) -> KafkaConsumerConfiguration {
    KafkaConsumerConfiguration(groupID: group, autoOffsetReset: .earliest, sessionTimeout: .seconds(6),
                               heartbeatInterval: .milliseconds(500), bufferCapacity: 1_000)
}

/// Reads until `count` messages arrived or `timeout` passed.
func collect(_ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
    var received: [KafkaConsumerMessage] = []
    let deadline = ContinuousClock.now + timeout
    while received.count < count, ContinuousClock.now < deadline {
        guard let batch = try await consumer.nextBatch(maxCount: 500, maxWait: .milliseconds(200)) else { break }
        received += batch
    }
    return received
}
