import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import NeuralNet
import Pipeline
import PolicyRuntime
import Store
import Testing
@testable import Workers

/// Wall time of evaluating one policy version at the smoke and quick profiles' sizes (the
/// profile's data scale, model, answer length and items per suite). A fresh model rarely
/// stops early, so this is close to the slowest version of a run. Runs only when
/// SKINR1_EVAL_BENCH is set (it renders a default-scale catalogue): set
/// OPENBLAS_CORETYPE as the services do to measure their kernel.
@Suite("Evaluation timing", .serialized, .enabled(if: ProcessInfo.processInfo.environment["SKINR1_EVAL_BENCH"] != nil),
       .timeLimit(.minutes(30)))
struct EvaluationBenchTests {
    @Test(arguments: ["smoke", "quick"])
    func evaluateOneVersion(profile: String) async throws {
        let config = try RunConfig.profile(profile, arm: .skinR1)
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-eval-bench-\(UUID().uuidString.prefix(8))")
        let logger = CatalogueBench.logger
        let cluster = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        let client = try PostgresClient(url: try await cluster.createDatabase(named: "bench"), maxConnections: 4, logger: logger)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let scale = try #require(CorpusScale(rawValue: config.dataScale))
            try await client.withConnection { connection in
                _ = try await Migrator(logger: logger).migrate(on: connection)
                _ = try await KnowledgeSeeder(logger: logger).seed(CatalogueBench.knowledge, on: connection)
                let plan = try CorpusPlanner.plan(knowledge: CatalogueBench.knowledge, seed: 5, scale: scale)
                _ = try await SyntheticCorpusWriter(logger: logger).write(plan, on: connection)
            }
            let run = try await RunRecord.create(id: "bench-\(profile)", config: config, on: client)
            let builder = QuestionBuilder(taxonomy: CatalogueBench.knowledge.taxonomy, graph: CatalogueBench.knowledge.graph)
            let (training, ood) = try await client.withConnection { connection in
                let reader = CatalogueReader(connection)
                return (try await reader.trainingCases(split: .test), try await reader.oodCases())
            }
            var skipped = SkipTally()
            let suites = EvaluationSuiteBuilder(builder: builder)
                .build(training: training, ood: ood, seed: config.seed, limit: config.evalItemsPerSuite, skipped: &skipped)
            try await TrajectorySynthesisWorker(run: run, client: client, producer: nil, knowledge: CatalogueBench.knowledge,
                                                logger: logger).storeEvalItems(suites)
            let items = try await EvaluationStore(client: client).items(for: config)
            #expect(items.count == suites.count)

            let tokenizer = try BPETokenizer.train(corpus: items.prefix(200).map(\.item.prompt), vocabSize: config.vocabSize)
            let modelConfig = try ModelConfig.named(config.modelSize, vocabSize: tokenizer.vocabSize)
            let base = try PolicyModel(config: modelConfig, seed: 1)
            let baseSHA = try await PolicyArtifacts(blobs: BlobStore(client: client)).storeBase(base, tokenizer: tokenizer)
            let policy = PublishedPolicy(version: 0, step: 0, stage: "base", baseSHA: baseSHA, adapterSHA: nil,
                                         learnerIncarnation: "bench", admissionCapacity: 0)
            NeuralNetThreads.setThreads(1)
            let result = try await PolicyEvaluator(client: client, logger: logger)
                .evaluate(policy, items: items, maxNewTokens: config.maxNewTokens, batchSize: 32)
            #expect(result.outcomes.count == items.count)
            let kernel = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "default"
            print("eval bench \(profile): \(items.count) items, model \(config.modelSize), \(config.maxNewTokens) new tokens max: "
                  + String(format: "load %.2f s, decode %.2f s (%.1f items/s, %d tokens, %.0f tokens/s)",
                           result.loadSeconds, result.decodeSeconds, Double(items.count) / result.decodeSeconds,
                           result.generatedTokens, Double(result.generatedTokens) / result.decodeSeconds)
                  + ", BLAS kernel \(kernel)")
        } catch {
            await client.close()
            try? await cluster.stop()
            throw error
        }
        await client.close()
        try? await cluster.stop()
    }
}
