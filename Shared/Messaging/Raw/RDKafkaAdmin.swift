import CRDKafka

/// One topic's answer to CreateTopics.
struct RDKafkaTopicResult {
    var name: String
    var code: rd_kafka_resp_err_t
    var message: String
}

extension RDKafkaClient {
    /// Sends CreateTopics and blocks until the answer (or `timeoutMs` plus a margin) passes.
    func createTopics(_ specs: [TopicSpec], timeoutMs: Int32) throws -> [RDKafkaTopicResult] {
        var errorText = [CChar](repeating: 0, count: 512)
        func reason() -> String { errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }

        var newTopics: [OpaquePointer?] = []
        defer { newTopics.withUnsafeMutableBufferPointer { rd_kafka_NewTopic_destroy_array($0.baseAddress, $0.count) } }
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor),
                                                    &errorText, errorText.count) else {
                throw KafkaError(.invalidArgument, "topic '\(spec.name)' cannot be created: \(reason())")
            }
            newTopics.append(topic)
            for (key, value) in spec.config.sorted(by: { $0.key < $1.key }) {
                let code = rd_kafka_NewTopic_set_config(topic, key, value)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError.rdkafka(code, "topic '\(spec.name)' config key '\(key)'")
                }
            }
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errorText, errorText.count)

        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 5_000) else {
            throw KafkaError(.timedOut, "CreateTopics got no answer within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventCode = rd_kafka_event_error(event)
        if eventCode != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            var error = KafkaError.rdkafka(eventCode, "CreateTopics failed (\(text))")
            if Self.unsupportedCodes.contains(eventCode) { error.code = .unsupported }
            if eventCode == RD_KAFKA_RESP_ERR__TIMED_OUT {
                // librdkafka's mock cluster names no controller, so CreateTopics ends here.
                error.code = .timedOut
                error.message += "; no controller answered (the embedded broker has none: create topics through it)"
            }
            throw error
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(.librdkafka, "CreateTopics answered with an unexpected event")
        }
        var count = 0
        let topics = rd_kafka_CreateTopics_result_topics(result, &count)
        return (0..<count).compactMap { index in
            guard let topic = topics?[index] else { return nil }
            return RDKafkaTopicResult(
                name: String(cString: rd_kafka_topic_result_name(topic)),
                code: rd_kafka_topic_result_error(topic),
                message: rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? "")
        }
    }

    static let unsupportedCodes: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE, RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION,
        RD_KAFKA_RESP_ERR_INVALID_REQUEST,
    ]
}
