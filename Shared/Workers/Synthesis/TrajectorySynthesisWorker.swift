import Catalogue
import DataSynth
import Domain
import Foundation
import Logging
import Messaging
import Pipeline
import Store

/// What one pass of the synthesizer did. Counts are of this pass: a stage its milestone
/// already marked done is skipped and reports zeros (with `skippedStages` naming it).
public struct SynthesisReport: Sendable, Equatable {
    public var evalItems = 0
    public var evalItemsBySuite: [String: Int] = [:]
    public var trajectories = 0
    public var trajectoriesByType: [Int: Int] = [:]
    public var trajectoriesPublished = 0
    public var prompts = 0
    public var promptsPublished = 0
    public var skippedStages: [Milestone] = []
    public var skipped = SkipTally()

    public init() {}
}

/// Stage 1 of the pipeline (pipeline contract): evaluation suites into `eval_items`, SFT
/// trajectories into `trajectories` (published when the arm runs SFT), RL prompts into
/// `rl_prompts` (published when the arm runs RL), each stage closed by its milestone.
/// Re-running after a crash skips the stages whose milestone exists; a stage cut short is
/// redone whole (ids are deterministic, rows are inserted with ON CONFLICT DO NOTHING and
/// the consumers are idempotent, so the messages sent twice are harmless).
public struct TrajectorySynthesisWorker: Sendable {
    let run: RunRecord
    let client: PostgresClient
    let producer: KafkaProducer?
    let knowledge: KnowledgeBase
    let comparator: any Domain.Comparator
    let logger: Logger

    /// `producer` may be nil only when the arm publishes nothing (it is checked on use).
    public init(run: RunRecord, client: PostgresClient, producer: KafkaProducer?, knowledge: KnowledgeBase,
                comparator: any Domain.Comparator = TemplateComparator(), logger: Logger) {
        self.run = run
        self.client = client
        self.producer = producer
        self.knowledge = knowledge
        self.comparator = comparator
        self.logger = logger
    }

    var questions: QuestionBuilder { QuestionBuilder(taxonomy: knowledge.taxonomy, graph: knowledge.graph) }

    /// Runs every stage not yet done and returns what it did.
    public func prepare() async throws -> SynthesisReport {
        var report = SynthesisReport()
        let config = run.config
        let corpus = TrainingCorpusBuilder(questions: questions,
                                           synthesizer: TrajectorySynthesizer(knowledge: knowledge, comparator: comparator,
                                                                              style: config.style))

        if try await run.milestone(.evalSuitesBuilt, on: client) == nil {
            let (training, ood) = try await client.withConnection { connection in
                let reader = CatalogueReader(connection)
                return (try await reader.trainingCases(split: .test) + (try await reader.trainingCases(split: .train)),
                        try await reader.oodCases())
            }
            guard !training.isEmpty else {
                throw SynthesisError("the catalogue holds no training cases: write the data first (skinr1 data synth)")
            }
            let items = EvaluationSuiteBuilder(builder: questions)
                .build(training: training, ood: ood, seed: config.seed, limit: config.evalItemsPerSuite, skipped: &report.skipped)
            try await storeEvalItems(items)
            report.evalItems = items.count
            for item in items { report.evalItemsBySuite[item.suite.rawValue, default: 0] += 1 }
            try await run.mark(.evalSuitesBuilt, detail: ["items": items.count], on: client)
            logger.info("evaluation suites built", metadata: [
                "eval.items": "\(items.count)", "eval.suites": "\(report.evalItemsBySuite)"])
        } else {
            report.skippedStages.append(.evalSuitesBuilt)
        }

        if try await run.milestone(.trajectoriesPublished, on: client) == nil {
            let textbook = try await client.withConnection { try await CatalogueReader($0).textbookCases() }
            guard !textbook.isEmpty else {
                throw SynthesisError("the catalogue holds no textbook exemplars: write the data first (skinr1 data synth)")
            }
            let trajectories = try await corpus.trajectories(runID: run.id, textbook: textbook, seed: config.seed,
                                                             posed: config.posesTrajectories,
                                                             judgesOptions: config.namingFormat.judgesOptions, skipped: &report.skipped)
            try await storeTrajectories(trajectories)
            report.trajectories = trajectories.count
            for entry in trajectories { report.trajectoriesByType[entry.trajectory.type.rawValue, default: 0] += 1 }
            if config.arm.runsSFT {
                report.trajectoriesPublished = try await publishTrajectories(trajectories)
            }
            try await run.mark(.trajectoriesPublished, detail: ["count": report.trajectoriesPublished], on: client)
            logger.info("trajectories ready", metadata: [
                "trajectories.count": "\(trajectories.count)", "trajectories.types": "\(report.trajectoriesByType)",
                "trajectories.published": "\(report.trajectoriesPublished)"])
        } else {
            report.skippedStages.append(.trajectoriesPublished)
        }

        if try await run.milestone(.promptsPublished, on: client) == nil {
            let training = try await client.withConnection { try await CatalogueReader($0).trainingCases(split: .train) }
            let prompts = corpus.prompts(runID: run.id, training: training, epochs: config.promptEpochs,
                                         seed: config.seed, conditionShare: config.conditionPromptShare,
                                         offeringDiagnosis: config.promptsOfferDiagnosis, skipped: &report.skipped)
            try await storePrompts(prompts)
            report.prompts = prompts.count
            if config.arm.runsRL {
                report.promptsPublished = try await publishPrompts(prompts)
            }
            try await run.mark(.promptsPublished, detail: ["count": report.promptsPublished], on: client)
            logger.info("rl prompts ready", metadata: [
                "prompts.count": "\(prompts.count)", "prompts.epochs": "\(config.promptEpochs)",
                "prompts.published": "\(report.promptsPublished)"])
        } else {
            report.skippedStages.append(.promptsPublished)
        }
        if report.skipped.total > 0 {
            logger.info("left out", metadata: ["skipped": "\(report.skipped)"])
        }
        return report
    }

    // MARK: - Store

    /// Rows per INSERT: arrays are bound as parameters and expanded with unnest.
    static let rowsPerStatement = 500

    func storeEvalItems(_ items: [EvaluationSuiteItem]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try await client.transaction { tx in
            for chunk in items.chunkedForStore(Self.rowsPerStatement) {
                let ids = chunk.map(\.id), suites = chunk.map(\.suite.rawValue), datasets = chunk.map(\.datasetID)
                let cases = chunk.map(\.item.caseID)
                let json = try chunk.map { String(decoding: try encoder.encode($0.item), as: UTF8.self) }
                try await tx.execute("""
                    INSERT INTO eval_items (id, suite, dataset_id, case_id, item)
                    SELECT id, suite, dataset_id, case_id, item::jsonb
                    FROM unnest(\(ids)::text[], \(suites)::text[], \(datasets)::text[], \(cases)::text[], \(json)::text[])
                         AS t(id, suite, dataset_id, case_id, item)
                    ON CONFLICT (id) DO UPDATE SET item = EXCLUDED.item WHERE eval_items.item IS DISTINCT FROM EXCLUDED.item
                    """)
            }
        }
    }

    func storeTrajectories(_ trajectories: [RunTrajectory]) async throws {
        try await client.transaction { tx in
            for chunk in trajectories.chunkedForStore(Self.rowsPerStatement) {
                let t = chunk.map(\.trajectory)
                let runIDs = [String](repeating: run.id, count: chunk.count)
                try await tx.execute("""
                    INSERT INTO trajectories (id, run_id, type, case_id, image_sha256, prompt, target, final_node,
                                              primary_node, differential_node, other_case_id)
                    SELECT id, run_id, type::smallint, case_id, image_sha256, prompt, target, final_node,
                           primary_node, differential_node, other_case_id
                    FROM unnest(\(chunk.map(\.trajectoryID))::text[], \(runIDs)::text[], \(t.map(\.type.rawValue))::int[],
                                \(t.map(\.caseID))::text[], \(t.map(\.imageSHA))::text[], \(t.map(\.prompt))::text[],
                                \(t.map(\.target))::text[], \(t.map(\.finalDiagnosis))::text[],
                                \(t.map(\.primaryDiagnosis))::text[], \(t.map { $0.differentialDiagnosis ?? "" })::text[],
                                \(t.map { $0.otherCaseID ?? "" })::text[])
                         AS u(id, run_id, type, case_id, image_sha256, prompt, target, final_node, primary_node,
                              differential_node, other_case_id)
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
            // Empty strings stood for "none" in the arrays above.
            try await tx.execute("""
                UPDATE trajectories SET differential_node = NULLIF(differential_node, ''), other_case_id = NULLIF(other_case_id, '')
                WHERE run_id = \(run.id) AND (differential_node = '' OR other_case_id = '')
                """)
        }
    }

    func storePrompts(_ prompts: [RunPrompt]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try await client.transaction { tx in
            for chunk in prompts.chunkedForStore(Self.rowsPerStatement) {
                let runIDs = [String](repeating: run.id, count: chunk.count)
                let json = try chunk.map { String(decoding: try encoder.encode($0.item), as: UTF8.self) }
                try await tx.execute("""
                    INSERT INTO rl_prompts (id, run_id, case_id, dataset_id, epoch, item)
                    SELECT id, run_id, case_id, dataset_id, epoch, item::jsonb
                    FROM unnest(\(chunk.map(\.promptID))::text[], \(runIDs)::text[], \(chunk.map(\.item.caseID))::text[],
                                \(chunk.map(\.datasetID))::text[], \(chunk.map(\.epoch))::int[], \(json)::text[])
                         AS t(id, run_id, case_id, dataset_id, epoch, item)
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
        }
    }

    // MARK: - Publish

    func requireProducer() throws -> KafkaProducer {
        guard let producer else {
            throw SynthesisError("run \(run.id) (arm \(run.config.arm.rawValue)) publishes to Kafka but no producer was given")
        }
        return producer
    }

    func publishTrajectories(_ trajectories: [RunTrajectory]) async throws -> Int {
        let producer = try requireProducer()
        let messages = try trajectories.map { entry in
            let t = entry.trajectory
            return try PipelineTopics.trajectories.message(key: entry.trajectoryID, value: SFTTrajectoryMessage(
                trajectoryID: entry.trajectoryID, corpus: run.id, type: t.type.rawValue, imageSHA: t.imageSHA,
                prompt: t.prompt, target: t.target, finalDiagnosis: t.finalDiagnosis))
        }
        _ = try await producer.sendAll(messages, maxInFlight: 1_000)
        return messages.count
    }

    /// Publishes epoch by epoch in the shuffled order and stamps `published_at`.
    func publishPrompts(_ prompts: [RunPrompt]) async throws -> Int {
        let producer = try requireProducer()
        for chunk in prompts.chunkedForStore(1_000) {
            let messages = try chunk.map { prompt in
                try PipelineTopics.prompts.message(key: prompt.promptID, value: RLPromptMessage(
                    promptID: prompt.promptID, runID: run.id, epoch: prompt.epoch, item: prompt.item))
            }
            _ = try await producer.sendAll(messages, maxInFlight: 1_000)
            try await client.execute("""
                UPDATE rl_prompts SET published_at = now() WHERE run_id = \(run.id) AND id = ANY(\(chunk.map(\.promptID)))
                """)
        }
        return prompts.count
    }
}

public struct SynthesisError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Array {
    func chunkedForStore(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(1, size)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
