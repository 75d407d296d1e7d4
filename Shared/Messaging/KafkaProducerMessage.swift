/// A message header: a name and raw bytes.
public struct KafkaHeader: Hashable, Sendable {
    public var key: String
    public var value: [UInt8]

    public init(key: String, value: [UInt8]) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }
}

/// A message to send. `partition` nil lets librdkafka choose by key hash.
public struct KafkaProducerMessage: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }

    public init(topic: String, partition: Int32? = nil, key: String?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.init(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: value, headers: headers)
    }
}

/// The broker's acknowledgement of one message.
public struct KafkaDeliveryReport: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    /// The offset the broker assigned; librdkafka reports -1001 when an idempotent retry
    /// hid it, which happens only after a broker-side failure.
    public var offset: Int64

    public var description: String { "\(topic)[\(partition)]@\(offset)" }
}
