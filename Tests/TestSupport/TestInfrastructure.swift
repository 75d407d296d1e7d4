import Foundation
import Logging
import Messaging
import Store

/// What the pipeline's integration tests stand on: a private PostgreSQL cluster with one
/// migrated database, and an embedded broker holding every product topic.
public final class TestInfrastructure: Sendable {
    public let directory: URL
    public let cluster: PrivatePostgres
    public let databaseURL: String
    public let client: PostgresClient
    public let broker: EmbeddedBroker
    public let kafka: KafkaConfiguration

    private init(directory: URL, cluster: PrivatePostgres, databaseURL: String, client: PostgresClient, broker: EmbeddedBroker) {
        self.directory = directory
        self.cluster = cluster
        self.databaseURL = databaseURL
        self.client = client
        self.broker = broker
        self.kafka = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
    }

    /// Starts both; whatever was started is stopped again when a later step fails.
    public static func start(label: String, partitions: Int, logger: Logger) async throws -> TestInfrastructure {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-\(label)-tests-\(UUID().uuidString.prefix(8))")
        let cluster = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        var client: PostgresClient? = nil
        do {
            let url = try await cluster.createDatabase(named: label.replacingOccurrences(of: "-", with: "_"))
            let opened = try PostgresClient(url: url, maxConnections: 6, logger: logger)
            client = opened
            try await opened.withConnection { _ = try await Migrator(logger: logger).migrate(on: $0) }
            let broker = try EmbeddedBroker(brokers: 1, defaultPartitions: partitions, logger: logger)
            do {
                try broker.createTopics(TopicName.all.map { TopicSpec(name: $0, partitions: partitions) })
            } catch {
                broker.shutdown()
                throw error
            }
            return TestInfrastructure(directory: directory, cluster: cluster, databaseURL: url, client: opened, broker: broker)
        } catch {
            await client?.close()
            try? await cluster.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    public func stop() async {
        await client.close()
        broker.shutdown()
        try? await cluster.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
