/// Reads a typed topic at least once: decodes each message, runs the handler, and commits
/// only after the handler returned. A message that does not decode (or that the handler
/// rejects with `UnprocessableMessage`) goes to the dead-letter topic and is committed, and
/// reading goes on.
public struct TypedConsumer<Value: Codable & Sendable>: Sendable {
    public let topic: Topic<Value>
    public let consumer: KafkaConsumer
    public let deadLetters: DeadLetterPublisher

    public init(topic: Topic<Value>, consumer: KafkaConsumer, deadLetters: DeadLetterPublisher) {
        self.topic = topic
        self.consumer = consumer
        self.deadLetters = deadLetters
    }

    /// Runs until the consumer is closed (returns) or the task is cancelled (throws
    /// `CancellationError`). Work that the handler finished is committed; a handler that
    /// throws anything but `UnprocessableMessage` stops the loop with its message
    /// uncommitted, so it is delivered again.
    public func run(_ handler: (Value, KafkaConsumerMessage) async throws -> Void) async throws {
        for try await message in consumer.messages {
            try Task.checkCancellation()
            let value: Value
            do {
                value = try topic.decode(message.value)
            } catch {
                try await deadLetters.publish(message, error: error)
                try await commit(message)
                continue
            }
            do {
                try await handler(value, message)
            } catch let rejection as UnprocessableMessage {
                try await deadLetters.publish(message, error: rejection)
            }
            try await commit(message)
        }
    }

    private func commit(_ message: KafkaConsumerMessage) async throws {
        try await consumer.commitProcessed([message])
    }
}
