import CRDKafka

/// Builds librdkafka's `rd_kafka_conf_t` from a string dictionary: the one place where our
/// configuration meets librdkafka's key/value namespace.
enum RDKafkaConfig {
    /// A fresh `rd_kafka_conf_t *` holding `settings`; the caller owns it (it is consumed by
    /// `rd_kafka_new` on success). An unknown key or a bad value throws, naming the key.
    static func make(_ settings: [String: String]) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, "librdkafka could not allocate a configuration")
        }
        // Sorted so the first bad key reported is the same on every run.
        for key in settings.keys.sorted() {
            let value = settings[key]!
            var errorText = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                let shown = isSecret(key) ? "<redacted>" : value
                throw KafkaError(.configuration,
                                 "configuration key '\(key)' = '\(shown)' rejected by librdkafka: \(reason)")
            }
        }
        return conf
    }

    /// librdkafka's objection to `key` = `value`, or nil when it accepts them.
    static func objection(key: String, value: String) -> String? {
        guard let conf = rd_kafka_conf_new() else { return "librdkafka could not allocate a configuration" }
        defer { rd_kafka_conf_destroy(conf) }
        var errorText = [CChar](repeating: 0, count: 512)
        guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK else { return nil }
        return errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Keys whose values never appear in errors or logs.
    static func isSecret(_ key: String) -> Bool {
        key.contains("password") || key.contains("secret") || key.hasSuffix(".key.pem")
            || key.contains("sasl.oauthbearer.config") || key.contains("token")
    }
}
