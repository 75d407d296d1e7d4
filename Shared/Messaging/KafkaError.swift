import CRDKafka

/// An error from the bus: a code that can grow without breaking callers, a message, and
/// where in our code it was raised.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. A struct rather than an enum so new codes can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A configuration key was unknown or had a bad value.
        public static let configuration = Code("configuration")
        /// librdkafka reported a broker or protocol error (see `brokerCode`).
        public static let librdkafka = Code("librdkafka")
        /// A message could not be delivered.
        public static let delivery = Code("delivery")
        /// The client was shut down before the operation finished.
        public static let shutDown = Code("shut-down")
        /// The broker does not support the requested operation.
        public static let unsupported = Code("unsupported")
        /// An operation did not finish in time.
        public static let timedOut = Code("timed-out")
        /// Arguments that make no sense (for example a negative partition count).
        public static let invalidArgument = Code("invalid-argument")
    }

    public var code: Code
    public var message: String
    /// librdkafka's `rd_kafka_resp_err_t` value when librdkafka produced the error.
    public var brokerCode: Int32?
    /// The operation may succeed if tried again (broker restart, rebalance, full queue).
    public var isRetriable: Bool
    /// The client is unusable and must be recreated.
    public var isFatal: Bool
    public var file: String
    public var line: UInt

    public init(_ code: Code, _ message: String, brokerCode: Int32? = nil, isRetriable: Bool = false,
                isFatal: Bool = false, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.brokerCode = brokerCode
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "KafkaError(\(code)): \(message)"
        if let brokerCode { text += " [rdkafka \(brokerCode)]" }
        return text + " (\(file):\(line))"
    }

    /// True when a commit failed because the group is rebalancing or this member's generation
    /// is stale; the partition now belongs to someone else and its work will be redone there.
    public var isRebalanceConflict: Bool {
        guard let brokerCode else { return false }
        return [RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
                RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR__STATE,
                RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS]
            .map(\.rawValue).contains(brokerCode)
    }

    /// The failure librdkafka reports for `code`, with its own text.
    static func rdkafka(_ code: rd_kafka_resp_err_t, _ context: String,
                        file: String = #fileID, line: UInt = #line) -> KafkaError {
        let text = String(cString: rd_kafka_err2str(code))
        return KafkaError(.librdkafka, "\(context): \(text)", brokerCode: code.rawValue,
                          isRetriable: retriableCodes.contains(code.rawValue), file: file, line: line)
    }

    /// Takes ownership of `error` (an `rd_kafka_error_t *`) and destroys it.
    static func consuming(_ error: OpaquePointer, _ context: String,
                          file: String = #fileID, line: UInt = #line) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        return KafkaError(.librdkafka, "\(context): \(text)", brokerCode: code.rawValue,
                          isRetriable: rd_kafka_error_is_retriable(error) != 0 || retriableCodes.contains(code.rawValue),
                          isFatal: rd_kafka_error_is_fatal(error) != 0, file: file, line: line)
    }

    private static let retriableCodes: Set<Int32> = Set([
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
    ].map(\.rawValue))
}

/// Log metadata keys used across the bus, defined once.
enum LogKey {
    static let topic = "kafka.topic"
    static let partition = "kafka.partition"
    static let offset = "kafka.offset"
    static let group = "kafka.group"
    static let partitions = "kafka.partitions"
    static let facility = "kafka.facility"
    static let error = "kafka.error"
    static let bootstrap = "kafka.bootstrap"
    static let count = "kafka.count"
    static let startOffsets = "kafka.start_offsets"
    static let startFrom = "kafka.start_from"
}
