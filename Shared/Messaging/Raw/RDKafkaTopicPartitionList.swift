import CRDKafka

/// Owns (or borrows) an `rd_kafka_topic_partition_list_t`. Used only inside one call, never
/// shared between threads.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    private let owned: Bool

    init(capacity: Int = 4) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
        owned = true
    }

    /// Wraps a list that librdkafka owns (for example inside a rebalance callback).
    init(borrowing pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
        owned = false
    }

    convenience init(_ offsets: [KafkaTopicPartitionOffset]) {
        self.init(capacity: offsets.count)
        for entry in offsets { add(topic: entry.topic, partition: entry.partition, offset: entry.offset) }
    }

    convenience init(_ partitions: [KafkaTopicPartition]) {
        self.init(capacity: partitions.count)
        for entry in partitions { add(topic: entry.topic, partition: entry.partition, offset: RDKafkaOffset.invalid) }
    }

    deinit {
        if owned { rd_kafka_topic_partition_list_destroy(pointer) }
    }

    func add(topic: String, partition: Int32, offset: Int64) {
        let element = rd_kafka_topic_partition_list_add(pointer, topic, partition)!
        element.pointee.offset = offset
    }

    /// Sets the offset of an entry already in the list; false when it is not there.
    @discardableResult
    func setOffset(topic: String, partition: Int32, offset: Int64) -> Bool {
        guard let element = rd_kafka_topic_partition_list_find(pointer, topic, partition) else { return false }
        element.pointee.offset = offset
        return true
    }

    var count: Int { Int(pointer.pointee.cnt) }

    /// Every entry with its offset and per-partition error code.
    var entries: [(offset: KafkaTopicPartitionOffset, error: rd_kafka_resp_err_t)] {
        (0..<count).map { index in
            let element = pointer.pointee.elems[index]
            return (KafkaTopicPartitionOffset(topic: String(cString: element.topic), partition: element.partition,
                                              offset: element.offset), element.err)
        }
    }

    var partitions: [KafkaTopicPartition] {
        entries.map { KafkaTopicPartition(topic: $0.offset.topic, partition: $0.offset.partition) }
    }

    /// The first per-partition error, as a `KafkaError`, or nil.
    func firstError(_ context: String) -> KafkaError? {
        for entry in entries where entry.error != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .rdkafka(entry.error, "\(context) (\(entry.offset.topic)[\(entry.offset.partition)])")
        }
        return nil
    }
}

/// librdkafka's logical offsets (C macros that are not imported).
enum RDKafkaOffset {
    static let beginning: Int64 = -2
    static let end: Int64 = -1
    static let stored: Int64 = -1000
    static let invalid: Int64 = -1001
}
