import CRDKafka
import Logging

/// A topic to create: name, partition count, replication factor and topic-level settings
/// (e.g. `retention.ms`).
public struct TopicSpec: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    public var config: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// What `createTopics` did for one topic.
public enum TopicCreation: Sendable, Equatable {
    case created
    case alreadyExisted
}

/// Cluster administration: topic creation and metadata.
///
/// librdkafka 2.0.2's mock cluster (the embedded broker) does not support CreateTopics: it
/// names no controller, so the call throws `KafkaError` with code `.timedOut` after
/// `timeout`. Topics on the embedded broker are created through `EmbeddedBroker.createTopics`
/// or `skinr1 broker --topic` instead.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    public init(configuration: KafkaConfiguration, logger: Logger = Logger(label: "skinr1.kafka.admin")) throws {
        client = try RDKafkaClient(kind: .producer, settings: configuration.dictionary,
                                   callbacks: RDKafkaCallbacks(logger: logger))
    }

    /// Creates each topic; one that already exists counts as success (idempotent).
    @discardableResult
    public func createTopics(_ specs: [TopicSpec], timeout: Duration = .seconds(30)) async throws -> [String: TopicCreation] {
        for spec in specs where spec.partitions < 1 || spec.replicationFactor < 1 {
            throw KafkaError(.invalidArgument,
                             "topic '\(spec.name)' needs at least one partition and one replica")
        }
        guard !specs.isEmpty else { return [:] }
        let client = self.client
        let ms = Int32(clamping: timeout.milliseconds)
        let results = try await client.blocking { try client.createTopics(specs, timeoutMs: ms) }
        var outcome: [String: TopicCreation] = [:]
        for result in results {
            switch result.code {
            case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[result.name] = .created
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[result.name] = .alreadyExisted
            default:
                var error = KafkaError.rdkafka(result.code, "topic '\(result.name)' was not created (\(result.message))")
                if RDKafkaClient.unsupportedCodes.contains(result.code) { error.code = .unsupported }
                throw error
            }
        }
        return outcome
    }

    /// Partition count of every topic in the cluster. Asking does not create topics.
    public func partitionCounts(timeout: Duration = .seconds(10)) async throws -> [String: Int] {
        let client = self.client
        let ms = Int32(clamping: timeout.milliseconds)
        return try await client.blocking { try client.topicPartitionCounts(timeoutMs: ms) }
    }
}
