import CRDKafka
import Dispatch
import Logging

/// What librdkafka tells a producer about one message.
struct RDKafkaDelivery: Sendable {
    var id: UInt
    var topic: String
    var partition: Int32
    var offset: Int64
    var error: rd_kafka_resp_err_t
}

/// The Swift side of librdkafka's C callbacks. A pointer to it is the `opaque` of the
/// `rd_kafka_t`, so the C trampolines below can find it.
///
/// `@unchecked Sendable`: every stored property is a `let` set before the client exists, and
/// each closure is itself `@Sendable`; librdkafka may call in from its own threads.
final class RDKafkaCallbacks: @unchecked Sendable {
    let logger: Logger
    let onDelivery: (@Sendable (RDKafkaDelivery) -> Void)?
    /// Called on the thread that polls the consumer, with the handle to assign on.
    let onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, RDKafkaTopicPartitionList) -> Void)?

    init(logger: Logger,
         onDelivery: (@Sendable (RDKafkaDelivery) -> Void)? = nil,
         onRebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, RDKafkaTopicPartitionList) -> Void)? = nil) {
        self.logger = logger
        self.onDelivery = onDelivery
        self.onRebalance = onRebalance
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbacks? {
        guard let opaque else { return nil }
        return Unmanaged<RDKafkaCallbacks>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// The one owner of an `rd_kafka_t`.
///
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as safe to use from several
/// threads at once for every call made here (produce, poll, commit, seek, pause, metadata);
/// the pointer never changes after `init` and is destroyed only in `deinit`, when no thread
/// can hold the box any more. Blocking calls are made on `blockingQueue` or on the owner's
/// poll thread, never on Swift's cooperative pool.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let handle: OpaquePointer
    let kind: Kind
    let callbacks: RDKafkaCallbacks
    let logger: Logger
    /// Serial queue for calls that block for a broker round trip.
    let blockingQueue: DispatchQueue

    init(kind: Kind, settings: [String: String], callbacks: RDKafkaCallbacks) throws {
        let conf = try RDKafkaConfig.make(settings)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, text in
            guard let rk, let callbacks = RDKafkaCallbacks.from(rd_kafka_opaque(rk)) else { return }
            let message = text.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            let swiftLevel: Logger.Level = level <= 3 ? .error : level <= 4 ? .warning : level <= 6 ? .info : .debug
            callbacks.logger.log(level: swiftLevel, "\(message)", metadata: [LogKey.facility: "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
            guard let callbacks = RDKafkaCallbacks.from(opaque) else { return }
            let text = reason.map { String(cString: $0) } ?? ""
            let fatal = code == RD_KAFKA_RESP_ERR__FATAL.rawValue
            callbacks.logger.log(level: fatal ? .error : .warning, "librdkafka reported an error",
                                 metadata: [LogKey.error: "\(text)"])
        }
        if callbacks.onDelivery != nil {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let callbacks = RDKafkaCallbacks.from(opaque) else { return }
                let m = message.pointee
                let id = UInt(bitPattern: m._private)
                guard id != 0 else { return }
                let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                callbacks.onDelivery?(RDKafkaDelivery(id: id, topic: topic, partition: m.partition,
                                                      offset: m.offset, error: m.err))
            }
        }
        if callbacks.onRebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, code, list, opaque in
                guard let rk, let list, let callbacks = RDKafkaCallbacks.from(opaque) else { return }
                callbacks.onRebalance?(rk, code, RDKafkaTopicPartitionList(borrowing: list))
            }
        }
        var errorText = [CChar](repeating: 0, count: 512)
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaError(.configuration, "librdkafka refused the configuration: \(reason)")
        }
        self.handle = handle
        self.kind = kind
        self.callbacks = callbacks
        self.logger = callbacks.logger
        self.blockingQueue = DispatchQueue(label: "skinr1.kafka.blocking")
        if kind == .consumer {
            // Rebalances, errors and logs arrive through rd_kafka_consumer_poll.
            rd_kafka_poll_set_consumer(handle)
        }
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// Runs a blocking librdkafka call on this client's serial queue and awaits its result.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            blockingQueue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    // MARK: Producer

    /// Enqueues one message; `id` comes back in the delivery report. Payload, key and
    /// headers are copied by librdkafka before this returns.
    func produce(topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8],
                 headers: [KafkaHeader], id: UInt) throws {
        let copyFlag: Int32 = 0x2  // RD_KAFKA_MSG_F_COPY
        var headerList: OpaquePointer? = nil
        if !headers.isEmpty {
            headerList = rd_kafka_headers_new(headers.count)
            for header in headers {
                header.value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(headerList, header.key, -1, bytes.baseAddress, bytes.count)
                }
            }
        }
        let error: OpaquePointer? = topic.withCString { topicName in
            value.withUnsafeBytes { valueBytes in
                (key ?? []).withUnsafeBytes { keyBytes in
                    var fields: [rd_kafka_vu_t] = []
                    var field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_TOPIC; field.u.cstr = topicName; fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_PARTITION; field.u.i32 = partition ?? -1; fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_VALUE
                    field.u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                    field.u.mem.size = valueBytes.count
                    fields.append(field)
                    if key != nil {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_KEY
                        field.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                        field.u.mem.size = keyBytes.count
                        fields.append(field)
                    }
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_MSGFLAGS; field.u.i = copyFlag; fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_OPAQUE; field.u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    fields.append(field)
                    if let headerList {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_HEADERS; field.u.headers = headerList; fields.append(field)
                    }
                    return rd_kafka_produceva(handle, fields, fields.count)
                }
            }
        }
        if let error {
            // On failure the header list was not taken over by librdkafka.
            if let headerList { rd_kafka_headers_destroy(headerList) }
            throw KafkaError.consuming(error, "could not enqueue a message for topic '\(topic)'")
        }
    }

    /// Serves delivery reports and error/log events; blocks up to `timeoutMs`.
    @discardableResult
    func poll(timeoutMs: Int32) -> Int32 {
        rd_kafka_poll(handle, timeoutMs)
    }

    /// Blocks until every enqueued message is delivered or failed, or the timeout passes.
    func flush(timeoutMs: Int32) throws {
        let code = rd_kafka_flush(handle, timeoutMs)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            let left = rd_kafka_outq_len(handle)
            var error = KafkaError.rdkafka(code, "flush left \(left) message(s) undelivered")
            if code == RD_KAFKA_RESP_ERR__TIMED_OUT { error.code = .timedOut }
            throw error
        }
    }

    var outQueueLength: Int { Int(rd_kafka_outq_len(handle)) }

    // MARK: Consumer

    func subscribe(_ topics: [String]) throws {
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for topic in topics { list.add(topic: topic, partition: -1, offset: RDKafkaOffset.invalid) }
        let code = rd_kafka_subscribe(handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rdkafka(code, "could not subscribe to \(topics)")
        }
    }

    /// The next message or event; nil when nothing arrived in `timeoutMs`. The caller must
    /// `rd_kafka_message_destroy` the result.
    func consumerPoll(timeoutMs: Int32) -> UnsafeMutablePointer<rd_kafka_message_t>? {
        rd_kafka_consumer_poll(handle, timeoutMs)
    }

    /// Synchronous commit of explicit offsets (the next offset to read, per partition).
    func commit(_ offsets: [KafkaTopicPartitionOffset]) throws {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets)
        let code = rd_kafka_commit(handle, list.pointer, 0)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rdkafka(code, "could not commit \(offsets.map(\.description).joined(separator: ", "))")
        }
        if let error = list.firstError("could not commit offset") { throw error }
    }

    /// The group's committed offsets for `partitions` (`-1001` where none is committed).
    func committed(_ partitions: [KafkaTopicPartition], timeoutMs: Int32) throws -> [KafkaTopicPartitionOffset] {
        let list = RDKafkaTopicPartitionList(partitions)
        let code = rd_kafka_committed(handle, list.pointer, timeoutMs)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rdkafka(code, "could not read committed offsets")
        }
        return list.entries.map(\.offset)
    }

    func seek(_ offsets: [KafkaTopicPartitionOffset], timeoutMs: Int32) throws {
        let list = RDKafkaTopicPartitionList(offsets)
        if let error = rd_kafka_seek_partitions(handle, list.pointer, timeoutMs) {
            throw KafkaError.consuming(error, "could not seek")
        }
        if let error = list.firstError("could not seek") { throw error }
    }

    func pause(_ partitions: [KafkaTopicPartition]) throws {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(partitions)
        let code = rd_kafka_pause_partitions(handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdkafka(code, "could not pause \(partitions)") }
        if let error = list.firstError("could not pause") { throw error }
    }

    func resume(_ partitions: [KafkaTopicPartition]) throws {
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(partitions)
        let code = rd_kafka_resume_partitions(handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdkafka(code, "could not resume \(partitions)") }
        if let error = list.firstError("could not resume") { throw error }
    }

    /// The next offset librdkafka will hand the application for each partition (one past
    /// the last message polled; `RDKafkaOffset.invalid` before the first). No network call.
    func positions(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset] {
        let list = RDKafkaTopicPartitionList(partitions)
        let code = rd_kafka_position(handle, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdkafka(code, "could not read positions") }
        return list.entries.map(\.offset)
    }

    /// The broker's watermarks of a partition: its oldest kept message and one past its last;
    /// a request to the partition leader that waits up to `timeoutMs`.
    func watermarks(_ partition: KafkaTopicPartition, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let code = rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeoutMs)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdkafka(code, "could not query the watermarks of \(partition)") }
        return (low, high)
    }

    /// Leaves the consumer group (serving the final revoke) and stops fetching.
    func consumerClose() throws {
        let code = rd_kafka_consumer_close(handle)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rdkafka(code, "could not leave the group cleanly") }
    }

    /// The fatal error that made this client unusable, if any.
    func fatalError() -> KafkaError? {
        var text = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(handle, &text, text.count)
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let reason = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return KafkaError(.librdkafka, "fatal client error: \(reason)", brokerCode: code.rawValue, isFatal: true)
    }

    // MARK: Metadata

    /// Partition counts of every topic the cluster knows (does not create topics).
    func topicPartitionCounts(timeoutMs: Int32) throws -> [String: Int] {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let code = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMs)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError.rdkafka(code, "could not read cluster metadata")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var counts: [String: Int] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            counts[String(cString: topic.topic)] = Int(topic.partition_cnt)
        }
        return counts
    }
}
