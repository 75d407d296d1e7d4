import CRDKafka
import Foundation

/// A message read from a partition.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// The producer's or broker's timestamp, when the message carries one.
    public var timestamp: Date?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8],
                headers: [KafkaHeader] = [], timestamp: Date? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The key as UTF-8 text (invalid bytes replaced), nil when there is no key.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    public var valueString: String { String(decoding: value, as: UTF8.self) }
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// Copies a message out of librdkafka's memory (err must be 0).
    init(copying raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = raw.pointee
        topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        partition = m.partition
        offset = m.offset
        key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        var kind = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let millis = rd_kafka_message_timestamp(raw, &kind)
        timestamp = kind == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : Date(timeIntervalSince1970: Double(millis) / 1000)
        var list: OpaquePointer? = nil
        var headers: [KafkaHeader] = []
        if rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var bytes: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: value))
                index += 1
            }
        }
        self.headers = headers
    }
}

/// The consumer's messages, in partition order, as an `AsyncSequence`. Ends when the consumer
/// is closed; throws when it fails fatally, or `CancellationError` when the waiting task is
/// cancelled.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let buffer: MessageBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MessageBuffer
        public mutating func next() async throws -> KafkaConsumerMessage? {
            try await buffer.take(maxCount: 1, timeout: nil)?.first
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// Group membership changes, as the consumer's owner sees them.
public enum KafkaConsumerEvent: Sendable, Equatable {
    case assigned([KafkaTopicPartition])
    case revoked([KafkaTopicPartition])
    /// A non-fatal problem librdkafka reported while polling (e.g. an unknown topic).
    case error(String)
    /// The member restarted the fetch of a partition that had stopped delivering while the
    /// broker held `behind` messages past its position (see `stallTimeout`).
    case fetchRestarted(KafkaTopicPartition, behind: Int64)
}
