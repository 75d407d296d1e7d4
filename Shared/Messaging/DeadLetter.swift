import Foundation
import Logging

/// What the dead-letter topic holds about a message nobody could process.
public struct DeadLetter: Codable, Sendable, Hashable {
    public var originTopic: String
    public var originPartition: Int32
    public var originOffset: Int64
    public var error: String
    /// The original value, base64.
    public var payload: String
    /// The original key, base64 (the dead letter's own key is the original key too).
    public var key: String?
    public var failedAt: Date

    public init(originTopic: String, originPartition: Int32, originOffset: Int64, error: String,
                payload: [UInt8], key: [UInt8]?, failedAt: Date = Date()) {
        self.originTopic = originTopic
        self.originPartition = originPartition
        self.originOffset = originOffset
        self.error = error
        self.payload = Data(payload).base64EncodedString()
        self.key = key.map { Data($0).base64EncodedString() }
        self.failedAt = failedAt
    }

    /// The original value's bytes.
    public var payloadBytes: [UInt8]? { Data(base64Encoded: payload).map { Array($0) } }

    /// `skinr1.deadletter`, schema `skinr1.dead-letter` version 1.
    public static let topic = Topic<DeadLetter>(TopicName.deadLetter, schema: "skinr1.dead-letter", version: 1)
}

/// Publishes messages that cannot be processed to the dead-letter topic.
public struct DeadLetterPublisher: Sendable {
    public let producer: KafkaProducer
    private let logger: Logger

    public init(producer: KafkaProducer, logger: Logger = Logger(label: "skinr1.kafka.deadletter")) {
        self.producer = producer
        self.logger = logger
    }

    /// Sends a dead letter for `message`, keyed by its original key, and awaits delivery.
    @discardableResult
    public func publish(_ message: KafkaConsumerMessage, error: any Error) async throws -> KafkaDeliveryReport {
        let letter = DeadLetter(originTopic: message.topic, originPartition: message.partition,
                                originOffset: message.offset, error: "\(error)", payload: message.value, key: message.key)
        let report = try await producer.send(KafkaProducerMessage(
            topic: DeadLetter.topic.name, key: message.key, value: DeadLetter.topic.encode(letter)))
        logger.warning("message sent to the dead-letter topic", metadata: [
            LogKey.topic: "\(message.topic)", LogKey.partition: "\(message.partition)",
            LogKey.offset: "\(message.offset)", LogKey.error: "\(error)",
        ])
        return report
    }
}

/// Thrown by a `TypedConsumer` handler for a message that can never be processed (bad
/// content, not a passing outage): the message is dead-lettered and committed.
public struct UnprocessableMessage: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "unprocessable message: \(reason)" }
}
