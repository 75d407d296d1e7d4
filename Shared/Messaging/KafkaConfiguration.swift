import Backoff
import Foundation

/// How to reach the cluster, shared by producers, consumers and the admin client.
///
/// Typed fields cover what the product tunes; `extra` passes any other librdkafka key
/// through unchanged (SASL, SSL, debug contexts...) and wins over the typed fields.
public struct KafkaConfiguration: Sendable {
    /// Comma-separated `host:port` list (librdkafka's `bootstrap.servers`).
    public var bootstrapServers: String
    public var clientID: String
    /// Wait for a broker answer before giving up on a request (`socket.timeout.ms`).
    public var socketTimeout: Duration
    /// First and last delay between reconnect attempts to a broker (`reconnect.backoff.ms`,
    /// `reconnect.backoff.max.ms`); librdkafka grows it exponentially with jitter between them.
    public var reconnectBackoff: Duration
    public var reconnectBackoffMax: Duration
    /// Largest message the client sends or accepts (`message.max.bytes`).
    public var messageMaxBytes: Int
    /// librdkafka's own log threshold (syslog levels 0-7, `log_level`).
    public var logLevel: Int
    /// Any other librdkafka key, e.g. `security.protocol`, `sasl.mechanisms`.
    public var extra: [String: String]

    public init(bootstrapServers: String, clientID: String = "skinr1",
                socketTimeout: Duration = .seconds(30), reconnectBackoff: Duration = .milliseconds(100),
                reconnectBackoffMax: Duration = .seconds(10), messageMaxBytes: Int = 4 * 1024 * 1024,
                logLevel: Int = 4, extra: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.socketTimeout = socketTimeout
        self.reconnectBackoff = reconnectBackoff
        self.reconnectBackoffMax = reconnectBackoffMax
        self.messageMaxBytes = messageMaxBytes
        self.logLevel = logLevel
        self.extra = extra
    }

    /// librdkafka's dictionary for these settings: the only place the typed fields become keys.
    public var dictionary: [String: String] {
        var settings: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "client.id": clientID,
            "socket.timeout.ms": String(socketTimeout.milliseconds),
            "reconnect.backoff.ms": String(reconnectBackoff.milliseconds),
            "reconnect.backoff.max.ms": String(reconnectBackoffMax.milliseconds),
            "message.max.bytes": String(messageMaxBytes),
            "log_level": String(logLevel),
        ]
        settings.merge(extra) { _, override in override }
        return settings
    }

    /// Reads `KAFKA_BOOTSTRAP_SERVERS` and turns every other `KAFKA_<NAME>` variable into the
    /// librdkafka key `<name>` lowercased with `_` as `.` (`KAFKA_SASL_MECHANISMS` ->
    /// `sasl.mechanisms`). `KAFKA_CLIENT_ID` sets `clientID`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KafkaConfiguration {
        guard let servers = environment["KAFKA_BOOTSTRAP_SERVERS"]?.trimmingCharacters(in: .whitespaces),
              !servers.isEmpty else {
            throw KafkaError(.configuration, "environment variable KAFKA_BOOTSTRAP_SERVERS is not set")
        }
        var configuration = KafkaConfiguration(bootstrapServers: servers)
        for (name, value) in environment where name.hasPrefix("KAFKA_") && name != "KAFKA_BOOTSTRAP_SERVERS" {
            let key = librdkafkaKey(forEnvironmentVariable: name)
            guard !key.isEmpty, !key.hasPrefix("."), !key.hasSuffix("."), !key.contains("..") else {
                throw KafkaError(.configuration, "environment variable \(name) does not name a librdkafka key")
            }
            if let objection = RDKafkaConfig.objection(key: key, value: value) {
                throw KafkaError(.configuration,
                                 "environment variable \(name) sets librdkafka key '\(key)', which librdkafka rejects: \(objection)")
            }
            if key == "client.id" {
                configuration.clientID = value
            } else {
                configuration.extra[key] = value
            }
        }
        return configuration
    }

    /// `KAFKA_SASL_MECHANISMS` -> `sasl.mechanisms`.
    public static func librdkafkaKey(forEnvironmentVariable name: String) -> String {
        String(name.dropFirst("KAFKA_".count)).lowercased().replacingOccurrences(of: "_", with: ".")
    }
}

/// Producer settings on top of the connection.
public struct KafkaProducerConfiguration: Sendable {
    /// How long librdkafka waits to fill a batch (`linger.ms`).
    public var linger: Duration
    /// How long a message may take to be delivered, retries included (`message.timeout.ms`).
    public var deliveryTimeout: Duration
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd` (`compression.codec`).
    public var compression: String
    /// Messages librdkafka may hold before `send` has to wait (`queue.buffering.max.messages`).
    public var queueMaxMessages: Int
    /// Messages per record batch at most (`batch.num.messages`). A broker hands out whole
    /// batches, so this bounds how many messages of one partition a consumer gets at a time.
    public var batchMessages: Int

    public init(linger: Duration = .milliseconds(5), deliveryTimeout: Duration = .seconds(120),
                compression: String = "none", queueMaxMessages: Int = 100_000, batchMessages: Int = 10_000) {
        self.linger = linger
        self.deliveryTimeout = deliveryTimeout
        self.compression = compression
        self.queueMaxMessages = queueMaxMessages
        self.batchMessages = batchMessages
    }

    /// Keys the product's delivery contract depends on: set last, and a conflicting value in
    /// `extra` is a configuration error.
    static let fixed: [String: String] = ["enable.idempotence": "true", "acks": "all"]

    func dictionary(connection: KafkaConfiguration) throws -> [String: String] {
        var settings: [String: String] = [
            "linger.ms": String(linger.milliseconds),
            "message.timeout.ms": String(deliveryTimeout.milliseconds),
            "compression.codec": compression,
            "queue.buffering.max.messages": String(queueMaxMessages),
            "batch.num.messages": String(batchMessages),
        ]
        settings.merge(connection.dictionary) { _, connectionValue in connectionValue }
        try applyFixed(Self.fixed, to: &settings, role: "producer")
        return settings
    }
}

/// Consumer-group settings on top of the connection.
public struct KafkaConsumerConfiguration: Sendable {
    public enum OffsetReset: String, Sendable { case earliest, latest }

    public var groupID: String
    /// Where to start in a partition with no committed offset (`auto.offset.reset`).
    public var autoOffsetReset: OffsetReset
    /// `session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`.
    public var sessionTimeout: Duration
    public var heartbeatInterval: Duration
    public var maxPollInterval: Duration
    /// How long a fetch waits for data on the broker (`fetch.wait.max.ms`). Kafka answers as
    /// soon as data arrives, but the embedded (mock) broker always waits this long on an
    /// empty partition, so it bounds the pipeline's latency there.
    public var fetchMaxWait: Duration
    /// Messages held between the poll thread and the caller; when this many are unread the
    /// member pauses fetching (and goes on polling) until the caller has read half of them.
    public var bufferCapacity: Int
    /// Bytes one fetch asks of each partition (`max.partition.fetch.bytes`; a broker still
    /// returns a first record batch that is larger). Small values interleave partitions.
    public var maxPartitionFetchBytes: Int
    /// How much fetching time (assigned, not paused) an assigned partition may spend without
    /// delivering, while the broker holds unread messages, before the member restarts its
    /// fetch (resume and seek to where it should go on) once the caller waits. Guards against
    /// a fetch, or a first offset lookup, that librdkafka left stopped after flow control's
    /// many pauses and resumes.
    public var stallTimeout: Duration

    public init(groupID: String, autoOffsetReset: OffsetReset = .earliest,
                sessionTimeout: Duration = .seconds(45), heartbeatInterval: Duration = .seconds(3),
                maxPollInterval: Duration = .seconds(300), fetchMaxWait: Duration = .milliseconds(50),
                bufferCapacity: Int = 2_000, maxPartitionFetchBytes: Int = 1_048_576,
                stallTimeout: Duration = .seconds(10)) {
        self.groupID = groupID
        self.autoOffsetReset = autoOffsetReset
        self.sessionTimeout = sessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.maxPollInterval = maxPollInterval
        self.fetchMaxWait = fetchMaxWait
        self.bufferCapacity = bufferCapacity
        self.maxPartitionFetchBytes = maxPartitionFetchBytes
        self.stallTimeout = stallTimeout
    }

    /// Offsets are committed only by the owner, after its work is done.
    static let fixed: [String: String] = ["enable.auto.commit": "false", "enable.auto.offset.store": "false"]

    func dictionary(connection: KafkaConfiguration) throws -> [String: String] {
        guard !groupID.isEmpty else { throw KafkaError(.configuration, "configuration key 'group.id' is empty") }
        var settings: [String: String] = [
            "group.id": groupID,
            "auto.offset.reset": autoOffsetReset.rawValue,
            "session.timeout.ms": String(sessionTimeout.milliseconds),
            "heartbeat.interval.ms": String(heartbeatInterval.milliseconds),
            "max.poll.interval.ms": String(maxPollInterval.milliseconds),
            "fetch.wait.max.ms": String(fetchMaxWait.milliseconds),
            "max.partition.fetch.bytes": String(maxPartitionFetchBytes),
        ]
        settings.merge(connection.dictionary) { _, connectionValue in connectionValue }
        try applyFixed(Self.fixed, to: &settings, role: "consumer")
        return settings
    }
}

private func applyFixed(_ fixed: [String: String], to settings: inout [String: String], role: String) throws {
    for (key, required) in fixed.sorted(by: { $0.key < $1.key }) {
        if let given = settings[key], given.lowercased() != required {
            throw KafkaError(.configuration,
                             "configuration key '\(key)' = '\(given)' conflicts with the \(role)'s contract (\(required))")
        }
        settings[key] = required
    }
}

extension Duration {
    /// Whole milliseconds, as librdkafka's `*.ms` keys want them.
    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
