import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Messaging
import Pipeline
import Store
import Testing

/// What the synthesis and evaluation tests stand on: a private PostgreSQL cluster with the
/// knowledge seeded and a small synthetic catalogue written, and an embedded broker whose
/// topics have one partition (so a reader sees messages in publication order).
final class CatalogueBench: Sendable {
    static let logger: Logger = {
        var logger = Logger(label: "skinr1.tests.synthesis")
        logger.logLevel = .warning
        return logger
    }()

    static let knowledge: KnowledgeBase = try! KnowledgeBase.load()

    let directory: URL
    let cluster: PrivatePostgres
    let client: PostgresClient
    let broker: EmbeddedBroker
    let kafka: KafkaConfiguration

    private init(directory: URL, cluster: PrivatePostgres, client: PostgresClient, broker: EmbeddedBroker) {
        self.directory = directory
        self.cluster = cluster
        self.client = client
        self.broker = broker
        self.kafka = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
    }

    static func start() async throws -> CatalogueBench {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-synthesis-tests-\(UUID().uuidString.prefix(8))")
        let cluster = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        do {
            let url = try await cluster.createDatabase(named: "catalogue")
            let client = try PostgresClient(url: url, maxConnections: 4, logger: logger)
            try await client.withConnection { connection in
                _ = try await Migrator(logger: logger).migrate(on: connection)
                _ = try await KnowledgeSeeder(logger: logger).seed(knowledge, on: connection)
                let plan = try CorpusPlanner.plan(knowledge: knowledge, seed: 5, scale: .small)
                _ = try await SyntheticCorpusWriter(logger: logger).write(plan, on: connection)
            }
            let broker = try EmbeddedBroker(brokers: 1, defaultPartitions: 1, logger: logger)
            try broker.createTopics(TopicName.all.map { TopicSpec(name: $0, partitions: 1) })
            return CatalogueBench(directory: directory, cluster: cluster, client: client, broker: broker)
        } catch {
            try? await cluster.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    func stop() async {
        await client.close()
        broker.shutdown()
        try? await cluster.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    static func with<T>(_ body: (CatalogueBench) async throws -> T) async throws -> T {
        let bench = try await start()
        do {
            let value = try await body(bench)
            await bench.stop()
            return value
        } catch {
            await bench.stop()
            throw error
        }
    }

    func createRun(_ config: RunConfig) async throws -> RunRecord {
        try await RunRecord.create(id: "run-\(UUID().uuidString.prefix(6).lowercased())", config: config, on: client)
    }

    func producer() throws -> KafkaProducer {
        try KafkaProducer(configuration: kafka, logger: Self.logger)
    }

    /// Reads `topic` from the start in a fresh group until `count` messages arrived or
    /// `timeout` passed.
    func read(_ topic: String, atLeast count: Int, timeout: Duration) async throws -> [KafkaConsumerMessage] {
        try await readTopic(topic, kafka: kafka, count: count, timeout: timeout, logger: Self.logger)
    }

    func count(_ sql: SQLQuery) async throws -> Int {
        try await client.query(sql).first!.decode("n")
    }
}
