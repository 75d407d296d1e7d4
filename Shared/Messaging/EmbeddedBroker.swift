import CRDKafka
import Logging
import Synchronization

/// A Kafka-protocol cluster inside this process: librdkafka's mock cluster, listening on
/// loopback TCP, so other processes reach it through `bootstrapServers`.
///
/// librdkafka 2.0.2's mock supports idempotent producers, consumer groups with offset
/// commits and topic auto-creation, but not the CreateTopics request; topics with a chosen
/// partition count are made here (`createTopics`). Topics that clients auto-create get the
/// mock's own default of 4 partitions (fixed in 2.0.2, not configurable). Messages live
/// in memory only, and each partition keeps only its newest ~5 MiB (or 100,000 batches):
/// a consumer lagging further behind than that skips the dropped messages, so give
/// high-volume topics enough partitions and keep consumers close behind.
public final class EmbeddedBroker: Sendable {
    /// Comma-separated `127.0.0.1:port` list of the mock brokers.
    public let bootstrapServers: String
    public let brokerCount: Int
    /// Partition count used by `createTopic` when none is given.
    public let defaultPartitions: Int
    private let cluster: RDKafkaMockCluster
    private let logger: Logger

    public init(brokers: Int = 1, defaultPartitions: Int = 4,
                logger: Logger = Logger(label: "skinr1.kafka.broker")) throws {
        guard brokers >= 1 else { throw KafkaError(.invalidArgument, "broker count must be at least 1, got \(brokers)") }
        guard defaultPartitions >= 1 else {
            throw KafkaError(.invalidArgument, "default partition count must be at least 1, got \(defaultPartitions)")
        }
        cluster = try RDKafkaMockCluster(brokers: brokers, logger: logger)
        bootstrapServers = cluster.bootstrapServers
        brokerCount = brokers
        self.defaultPartitions = defaultPartitions
        self.logger = logger
        logger.info("embedded broker listening", metadata: [LogKey.bootstrap: "\(bootstrapServers)"])
    }

    /// Creates `name` with `partitions` (default: `defaultPartitions`); an existing topic is
    /// left as it is.
    @discardableResult
    public func createTopic(_ name: String, partitions: Int? = nil) throws -> TopicCreation {
        try createTopics([TopicSpec(name: name, partitions: partitions ?? defaultPartitions)])[name]!
    }

    /// The embedded counterpart of `KafkaAdmin.createTopics`. Replication is capped at the
    /// broker count; topic-level `config` is not modelled by the mock and is ignored.
    @discardableResult
    public func createTopics(_ specs: [TopicSpec]) throws -> [String: TopicCreation] {
        var outcome: [String: TopicCreation] = [:]
        for spec in specs {
            guard !spec.name.isEmpty, spec.partitions >= 1 else {
                throw KafkaError(.invalidArgument, "topic '\(spec.name)' needs a name and at least one partition")
            }
            let created = try cluster.createTopic(spec.name, partitions: spec.partitions,
                                                  replicationFactor: min(max(spec.replicationFactor, 1), brokerCount))
            outcome[spec.name] = created ? .created : .alreadyExisted
            logger.info(created ? "topic created" : "topic already exists",
                        metadata: [LogKey.topic: "\(spec.name)", LogKey.partitions: "\(spec.partitions)"])
        }
        return outcome
    }

    /// Stops the brokers (connected clients see them go down). Also done on deinit.
    public func shutdown() {
        cluster.destroy()
    }
}

/// Owns the `rd_kafka_t` that hosts the mock cluster and the cluster itself.
///
/// `@unchecked Sendable`: the mock cluster runs on its own librdkafka thread and its API
/// (topic creation, bootstraps) posts commands to that thread, so calls from any thread are
/// safe; `destroyed` (under a mutex) makes destruction happen exactly once, before the
/// hosting handle is destroyed.
final class RDKafkaMockCluster: @unchecked Sendable {
    private let host: RDKafkaClient
    private let cluster: OpaquePointer
    private let destroyed = Mutex(false)
    let bootstrapServers: String

    init(brokers: Int, logger: Logger) throws {
        // The hosting handle never connects anywhere; silence its notice about that.
        host = try RDKafkaClient(kind: .producer, settings: ["log_level": "3", "client.id": "skinr1-embedded-broker"],
                                 callbacks: RDKafkaCallbacks(logger: logger))
        guard let cluster = rd_kafka_mock_cluster_new(host.handle, Int32(brokers)) else {
            throw KafkaError(.librdkafka, "librdkafka could not start a mock cluster of \(brokers) broker(s)")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// True when created, false when the topic already existed.
    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws -> Bool {
        let isDestroyed = destroyed.withLock { $0 }
        guard !isDestroyed else { throw KafkaError(.shutDown, "the embedded broker is shut down") }
        let code = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        switch code {
        case RD_KAFKA_RESP_ERR_NO_ERROR: return true
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return false
        default: throw KafkaError.rdkafka(code, "the embedded broker could not create topic '\(name)'")
        }
    }

    func destroy() {
        let first = destroyed.withLock { wasDestroyed -> Bool in
            defer { wasDestroyed = true }
            return !wasDestroyed
        }
        if first { rd_kafka_mock_cluster_destroy(cluster) }
    }

    deinit {
        destroy()
    }
}
