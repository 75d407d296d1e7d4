import Catalogue
import Domain
import Foundation
import Messaging
import Pipeline
import Store
import Testing
@testable import Workers

@Suite("Trajectory synthesizer on a small catalogue", .timeLimit(.minutes(6)))
struct SynthesisWorkerTests {
    @Test func buildsSuitesTrajectoriesAndPromptsOnceAndPublishesThem() async throws {
        try await CatalogueBench.with { bench in
            var config = try RunConfig.profile("smoke", arm: .skinR1)
            config.promptEpochs = 2
            config.evalItemsPerSuite = 3
            let run = try await bench.createRun(config)
            let producer = try bench.producer()
            let worker = TrajectorySynthesisWorker(run: run, client: bench.client, producer: producer,
                                                   knowledge: CatalogueBench.knowledge, logger: CatalogueBench.logger)
            let report = try await worker.prepare()

            // Every suite, at most 3 items per suite and dataset; six training datasets for the
            // in-distribution suites.
            for suite in EvaluationSuite.allCases {
                #expect((report.evalItemsBySuite[suite.rawValue] ?? 0) > 0, "suite \(suite.rawValue) is empty")
                let perDataset = try await bench.client.query("""
                    SELECT dataset_id, count(*) AS n FROM eval_items WHERE suite = \(suite.rawValue) GROUP BY dataset_id
                    """)
                #expect(try perDataset.allSatisfy { try $0.decode("n", as: Int.self) <= 3 })
            }
            #expect(try await bench.count("SELECT count(DISTINCT dataset_id) AS n FROM eval_items WHERE suite = 'disease'") == 6)
            #expect(try await bench.count("SELECT count(*) AS n FROM eval_items") == report.evalItems)
            let hierarchical = try await bench.client.query("SELECT item::text AS item FROM eval_items WHERE suite = 'hierarchical'")
            for row in hierarchical {
                let item = try JSONDecoder().decode(QuestionItem.self, from: Data(try row.decode("item", as: String.self).utf8))
                let onPath = item.options.filter { $0.pathIndex != nil }.count
                #expect(onPath >= 2, "a hierarchical item offers ancestors of its label")
            }
            // Answer positions are balanced within each suite and dataset (condition items keep
            // their fixed order): three items answer A, B and C.
            let letters = try await bench.client.query("""
                SELECT suite, dataset_id, string_agg(item->>'correctLetter', '' ORDER BY item->>'correctLetter') AS letters
                FROM eval_items WHERE suite <> 'lesion_condition' GROUP BY suite, dataset_id
                """)
            #expect(!letters.isEmpty)
            for row in letters {
                let found: String = try row.decode("letters")
                let suite: String = try row.decode("suite"), dataset: String = try row.decode("dataset_id")
                #expect(["A", "AB", "ABC"].contains(found), "\(suite) \(dataset): \(found)")
            }

            // Trajectories of each type, stored and published.
            for type in TrajectoryType.allCases {
                #expect((report.trajectoriesByType[type.rawValue] ?? 0) > 0, "no trajectory of type \(type.rawValue)")
            }
            #expect(try await bench.count("SELECT count(*) AS n FROM trajectories WHERE run_id = \(run.id)") == report.trajectories)
            #expect(report.trajectoriesPublished == report.trajectories)
            let trajectoryMessages = try await bench.read(TopicName.sftTrajectories, atLeast: report.trajectories,
                                                          timeout: .seconds(30))
            #expect(trajectoryMessages.count == report.trajectories)
            // Messages arrive in partition order: a trajectory and its posed form ("-q") in any order.
            let published = try trajectoryMessages.map { try PipelineTopics.trajectories.decode($0.value) }
            #expect(published.allSatisfy { $0.trajectoryID.hasPrefix(run.id + ":") })
            let plain = published.filter { !$0.trajectoryID.hasSuffix("-q") }
            #expect(plain.count * 2 == published.count)
            #expect(plain.allSatisfy { $0.target.contains(PromptText.diagnosisOpen) })
            #expect(published.filter { $0.trajectoryID.hasSuffix("-q") }.allSatisfy { $0.target.contains(PromptText.finalOpen) })
            // The profile poses every trajectory as a question too: one posed form per trajectory,
            // in the RL answer format, on the same image.
            #expect(run.config.posesTrajectories)
            let posed = try await bench.client.query("""
                SELECT p.prompt, p.target, p.image_sha256 = t.image_sha256 AS same_image
                FROM trajectories p JOIN trajectories t ON t.id || '-q' = p.id
                WHERE p.run_id = \(run.id)
                """)
            #expect(posed.count * 2 == report.trajectories)
            #expect(try posed.allSatisfy { row in
                try row.decode("same_image", as: Bool.self)
                    && row.decode("prompt", as: String.self).contains("\nA: ")
                    && row.decode("target", as: String.self).contains(PromptText.finalOpen)
            })
            // The posed forms put their answer at A, B, C and D in turn: SFT teaches no letter prior.
            let posedLetters = try posed.map { row in
                try #require(AnswerParser.parse(try row.decode("target", as: String.self), letters: QuestionBuilder.letters).letter)
            }
            let posedCounts = Dictionary(grouping: posedLetters, by: { $0 }).mapValues(\.count)
            #expect(Set(posedCounts.keys) == ["A", "B", "C", "D"], "\(posedCounts)")
            #expect(posedCounts.values.max()! - posedCounts.values.min()! <= 1, "\(posedCounts)")

            // Prompts: two epochs of the training split, each in its own order.
            let trainCases = try await bench.count("""
                SELECT count(*) AS n FROM cases c JOIN datasets d ON d.id = c.dataset_id
                WHERE d.role = 'train' AND c.split = 'train' AND c.node_id IS NOT NULL
                """)
            #expect(report.prompts == 2 * trainCases)
            #expect(report.promptsPublished == report.prompts)
            #expect(try await bench.count("SELECT count(*) AS n FROM rl_prompts WHERE run_id = \(run.id) AND published_at IS NOT NULL")
                    == report.prompts)
            let promptMessages = try await bench.read(TopicName.rlPrompts, atLeast: report.prompts, timeout: .seconds(30))
            #expect(promptMessages.count == report.prompts)
            let prompts = try promptMessages.map { try PipelineTopics.prompts.decode($0.value) }
            // Every letter answers a quarter of the prompts (to within one).
            let answerCounts = Dictionary(grouping: prompts, by: \.item.correctLetter).mapValues(\.count)
            #expect(Set(answerCounts.keys) == ["A", "B", "C", "D"])
            #expect(answerCounts.values.max()! - answerCounts.values.min()! <= 1, "\(answerCounts)")
            let epoch0 = prompts.filter { $0.epoch == 0 }.map(\.item.caseID)
            let epoch1 = prompts.filter { $0.epoch == 1 }.map(\.item.caseID)
            #expect(epoch0.count == trainCases && epoch1.count == trainCases)
            #expect(Set(epoch0) == Set(epoch1))
            #expect(epoch0 != epoch1, "each epoch is shuffled with its own seed")
            #expect(Set(prompts.map(\.promptID)).count == prompts.count)

            // Milestones.
            #expect(try await run.milestone(.evalSuitesBuilt, on: bench.client) != nil)
            #expect(try await run.milestone(.trajectoriesPublished, on: bench.client)?["count"] == report.trajectories)
            #expect(try await run.milestone(.promptsPublished, on: bench.client)?["count"] == report.prompts)

            // A second pass does nothing.
            let again = try await worker.prepare()
            #expect(again.skippedStages == [.evalSuitesBuilt, .trajectoriesPublished, .promptsPublished])
            #expect(again.evalItems == 0 && again.trajectoriesPublished == 0 && again.promptsPublished == 0)
            let promptsAfter = try await bench.read(TopicName.rlPrompts, atLeast: report.prompts + 1, timeout: .seconds(12))
            #expect(promptsAfter.count == report.prompts)
            #expect(try await bench.count("SELECT count(*) AS n FROM eval_items") == report.evalItems)

            // An RL-only run of the same seed stores trajectories but publishes none, and
            // shares the evaluation items.
            let rlOnly = try await bench.createRun(try RunConfig.profile("smoke", arm: .rlOnly))
            let second = try await TrajectorySynthesisWorker(run: rlOnly, client: bench.client, producer: producer,
                                                             knowledge: CatalogueBench.knowledge,
                                                             logger: CatalogueBench.logger).prepare()
            #expect(second.trajectories == report.trajectories)
            #expect(second.trajectoriesPublished == 0)
            #expect(try await rlOnly.milestone(.trajectoriesPublished, on: bench.client)?["count"] == 0)
            #expect(try await bench.count("SELECT count(*) AS n FROM trajectories WHERE run_id = \(rlOnly.id)") == second.trajectories)
            #expect(second.promptsPublished == second.prompts && second.prompts == trainCases)

            // A run that also asks a quarter of its cases their lesion condition: the disease
            // questions are those of the run without it, the condition items follow evaluation's
            // fixed option order.
            let mixed = try await bench.createRun(try RunConfig.profile("smoke", arm: .skinR1).overriding(["rlConditionShare=0.25"]))
            let third = try await TrajectorySynthesisWorker(run: mixed, client: bench.client, producer: producer,
                                                            knowledge: CatalogueBench.knowledge,
                                                            logger: CatalogueBench.logger).prepare()
            let all = try await bench.read(TopicName.rlPrompts, atLeast: report.prompts + second.prompts + third.prompts,
                                           timeout: .seconds(30))
            let mixedPrompts = try all.map { try PipelineTopics.prompts.decode($0.value) }.filter { $0.runID == mixed.id }
            #expect(mixedPrompts.count == third.prompts)
            let condition = mixedPrompts.filter { $0.item.kind == .lesionCondition }
            let disease = mixedPrompts.filter { $0.item.kind == .disease }
            // Per case (the topic's partitions interleave the order messages are read in).
            let byCase = { (list: [RLPromptMessage]) in
                Dictionary(list.filter { $0.epoch == 0 }.map { ($0.item.caseID, $0.item.prompt) }, uniquingKeysWith: { a, _ in a })
            }
            let plainByCase = byCase(prompts)
            #expect(plainByCase.count == trainCases)
            #expect(byCase(disease) == plainByCase,
                    "the disease questions and their letters are those of the run without condition questions")
            #expect(disease.count == mixed.config.promptEpochs * trainCases)
            let share = Double(condition.count) / Double(disease.count)
            #expect(share > 0.1 && share < 0.4, "condition questions for \(condition.count) of \(disease.count) cases")
            #expect(condition.allSatisfy {
                $0.item.purpose == .reinforcement && $0.item.answerFormat == .letterOnly
                    && $0.item.options.map(\.condition) == LesionCondition.canonicalOrder
                    && $0.item.option($0.item.correctLetter)?.condition == $0.item.groundTruthCondition
            })

            // What the learner's tokenizer reads of RL (the reference draw of the first pass,
            // by id) is what the plain run stored, and what the mixed run stored as its disease
            // questions; a run offering the diagnosis stores other texts under the same ids.
            let training = try await bench.client.withConnection { try await CatalogueReader($0).trainingCases(split: .train) }
            let offering = try await bench.createRun(try RunConfig.profile("smoke", arm: .skinR1).overriding(["rlPromptsOfferDiagnosis=true"]))
            _ = try await TrajectorySynthesisWorker(run: offering, client: bench.client, producer: producer,
                                                   knowledge: CatalogueBench.knowledge, logger: CatalogueBench.logger).prepare()
            func stored(_ run: RunRecord) async throws -> [(id: String, prompt: String)] {
                try await bench.client.query("""
                    SELECT id, item->>'prompt' AS prompt FROM rl_prompts
                    WHERE run_id = \(run.id) AND epoch = 0 AND item->>'kind' = 'disease' ORDER BY id
                    """).map { (try $0.decode("id", as: String.self), try $0.decode("prompt", as: String.self)) }
            }
            for run in [rlOnly, mixed, offering] {
                var skipped = SkipTally()
                let drawn = TrainingCorpusBuilder.prompts(
                    questions: QuestionBuilder(taxonomy: CatalogueBench.knowledge.taxonomy, graph: CatalogueBench.knowledge.graph),
                    runID: run.id, training: training, epochs: 1, seed: run.config.seed, skipped: &skipped)
                    .sorted { $0.promptID < $1.promptID }
                let rows = try await stored(run)
                #expect(drawn.map(\.promptID) == rows.map(\.id), "run \(run.id): the first pass's ids")
                let same = zip(drawn, rows).filter { $0.0.item.prompt == $0.1.prompt }.count
                if run.id == offering.id {
                    #expect(same < rows.count, "offering the diagnosis changes some prompts")
                } else {
                    #expect(same == rows.count, "run \(run.id): the reference draw's texts")
                }
            }
            try await producer.shutdown()
        }
    }
}

@Suite("Evaluation suites and corpus, pure")
struct SynthesisBuilderTests {
    @Test func selectionIsNestedAcrossLimits() throws {
        let items = (0..<20).map { i in
            EvaluationSuiteItem(suite: .disease, datasetID: "d", item: fixtureItem(caseID: "case-\(i)"))
        }
        let three = EvaluationSelection.select(items, seed: 9, limit: 3).map(\.item.caseID)
        let eight = EvaluationSelection.select(items, seed: 9, limit: 8).map(\.item.caseID)
        #expect(three.count == 3 && eight.count == 8)
        #expect(Array(eight.prefix(3)) == three)
        #expect(EvaluationSelection.select(items, seed: 10, limit: 3).map(\.item.caseID) != three)
    }

    private func fixtureItem(caseID: String) -> QuestionItem {
        QuestionItem(id: caseID, kind: .disease, purpose: .evaluation, caseID: caseID, dataset: "d", imageSHA: "x",
                     question: "q", options: [], prompt: "p", correctLetter: "A", groundTruth: nil,
                     groundTruthCondition: .benign, path: [], answerFormat: .letterOnly, normalisation: .finestOption, seed: 9)
    }
}
