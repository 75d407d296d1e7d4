import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Messaging
import Pipeline
import Store
import TestSupport
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

    let infrastructure: TestInfrastructure
    var client: PostgresClient { infrastructure.client }
    var broker: EmbeddedBroker { infrastructure.broker }
    var kafka: KafkaConfiguration { infrastructure.kafka }

    private init(infrastructure: TestInfrastructure) {
        self.infrastructure = infrastructure
    }

    static func start() async throws -> CatalogueBench {
        let infrastructure = try await TestInfrastructure.start(label: "synthesis", partitions: 1, logger: logger)
        do {
            try await infrastructure.client.withConnection { connection in
                _ = try await KnowledgeSeeder(logger: logger).seed(knowledge, on: connection)
                let plan = try CorpusPlanner.plan(knowledge: knowledge, seed: 5, scale: .small)
                _ = try await SyntheticCorpusWriter(logger: logger).write(plan, on: connection)
            }
            return CatalogueBench(infrastructure: infrastructure)
        } catch {
            await infrastructure.stop()
            throw error
        }
    }

    func stop() async {
        await infrastructure.stop()
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
