import Domain
import Foundation
import Knowledge
import NeuralNet
import Pipeline
import PolicyRuntime
import Store
import Synchronization
import Testing
@testable import Workers

@Suite("Evaluation metrics, plan and tables, pure")
struct EvaluationMetricTests {
    static let letters: [LesionCondition: String] = [.benign: "A", .malignant: "B", .precancerousInSitu: "C"]

    func conditionOutcome(_ truth: LesionCondition, _ predicted: LesionCondition?, dataset: String = "d1") -> EvaluationOutcome {
        EvaluationOutcome(suite: .lesionCondition, datasetID: dataset, correctLetter: Self.letters[truth]!,
                          chosenLetter: predicted.map { Self.letters[$0]! }, trueCondition: truth, predictedCondition: predicted)
    }

    @Test func accuracyMacroF1AndFormatFailuresByHand() {
        // truth  b b m m   p
        // answer b m m (none) b
        let outcomes = [conditionOutcome(.benign, .benign), conditionOutcome(.benign, .malignant),
                        conditionOutcome(.malignant, .malignant), conditionOutcome(.malignant, nil),
                        conditionOutcome(.precancerousInSitu, .benign)]
        #expect(EvaluationMetrics.accuracy(outcomes) == 0.4)
        #expect(EvaluationMetrics.formatFailureRate(outcomes) == 0.2)
        // benign: TP 1, FP 1, FN 1 -> 0.5; malignant: TP 1, FP 1, FN 1 -> 0.5; precancerous: TP 0 -> 0.
        let f1 = EvaluationMetrics.macroF1(truth: outcomes.map { $0.trueCondition! }, predicted: outcomes.map(\.predictedCondition))
        #expect(abs(f1 - 1.0 / 3.0) < 1e-12)
        // A class absent from truth and predictions does not enter the mean.
        #expect(EvaluationMetrics.macroF1(truth: [.benign, .malignant], predicted: [.benign, .malignant]) == 1)

        let values = EvaluationMetrics.summarize(outcomes + [
            EvaluationOutcome(suite: .disease, datasetID: "d1", correctLetter: "C", chosenLetter: "C"),
            EvaluationOutcome(suite: .disease, datasetID: "d2", correctLetter: "C", chosenLetter: "D"),
        ])
        func value(_ suite: String, _ dataset: String, _ metric: EvaluationMetric) -> Double? {
            values.first { $0.suite == suite && $0.datasetID == dataset && $0.metric == metric }?.value
        }
        #expect(value("disease", "d1", .accuracy) == 1)
        #expect(value("disease", "d2", .accuracy) == 0)
        #expect(value("disease", "all", .accuracy) == 0.5)
        #expect(value("disease", "all", .macroF1) == nil)
        #expect(value("lesion_condition", "d1", .macroF1).map { abs($0 - 1.0 / 3.0) < 1e-12 } == true)
        #expect(value("all", "all", .formatFailureRate).map { abs($0 - 1.0 / 7.0) < 1e-12 } == true)
        #expect(value("all", "all", .accuracy).map { abs($0 - 3.0 / 7.0) < 1e-12 } == true)
    }

    @Test func gradingUsesTheStrictParser() throws {
        let knowledge = try KnowledgeBase.load()
        let builder = QuestionBuilder(taxonomy: knowledge.taxonomy, graph: knowledge.graph)
        let item = builder.conditionItem(caseID: "c1", dataset: "d1", imageSHA: "sha", condition: .malignant, seed: 1)
        let entry = EvaluationSuiteItem(suite: .lesionCondition, datasetID: "d1", item: item)
        let right = EvaluationOutcome.grade(entry, answer: "<thinking> dark, irregular </thinking> <final diagnosis> B </final diagnosis>")
        #expect(right.isCorrect && right.predictedCondition == .malignant)
        let wrong = EvaluationOutcome.grade(entry, answer: "<thinking> x </thinking> <final diagnosis> A </final diagnosis>")
        #expect(!wrong.isCorrect && !wrong.isFormatFailure && wrong.predictedCondition == .benign)
        let untagged = EvaluationOutcome.grade(entry, answer: "The answer is B")
        #expect(untagged.isFormatFailure && !untagged.isCorrect)
    }

    @Test func theReasoningsNamedOptionsAreReadAndComparedWithTheChoice() {
        let options = ["Melanoma", "Nodular melanoma", "Dermatofibroma", "Actinic keratosis"]
        let item = QuestionItem(id: "q", kind: .disease, purpose: .evaluation, caseID: "c", dataset: "d1", imageSHA: "sha",
                                question: "Which diagnosis?",
                                options: zip(QuestionBuilder.letters, options).map {
                                    QuestionOption(letter: $0, text: $1, node: nil, condition: nil, pathIndex: nil, granularityReward: 0)
                                },
                                prompt: "p", correctLetter: "B", groundTruth: "n", groundTruthCondition: .malignant, path: ["n"],
                                answerFormat: .letterAndCondition, normalisation: .finestOption, seed: 1)
        let entry = EvaluationSuiteItem(suite: .disease, datasetID: "d1", item: item)
        func grade(_ thinking: String, _ letter: String) -> EvaluationOutcome {
            .grade(entry, answer: "<thinking> \(thinking) </thinking> <final diagnosis> \(letter), malignant </final diagnosis>")
        }
        // The longer name wins over the one it contains; case and punctuation do not matter.
        let follows = grade("A raised blue-black nodule. These findings indicate nodular melanoma.", "B")
        #expect(follows.reasonedLetters == ["B"] && follows.choiceFollowsReasoning && follows.isCorrect)
        // Named, then another letter chosen.
        let strays = grade("These findings indicate Nodular melanoma rather than Dermatofibroma.", "A")
        #expect(strays.reasonedLetters == ["B", "C"] && strays.reasoningNamesOption && !strays.choiceFollowsReasoning)
        // Names none of the options (a finer diagnosis than any offered is not an option's name).
        let none = grade("These findings indicate Lentigo maligna.", "B")
        #expect(none.reasonedLetters.isEmpty && !none.reasoningNamesOption && !none.choiceFollowsReasoning)
        // Only the reasoning counts: option names in the final tag or without tags are not read.
        #expect(EvaluationOutcome.grade(entry, answer: "Melanoma. <final diagnosis> A </final diagnosis>").reasonedLetters.isEmpty)

        let values = EvaluationMetrics.summarize([follows, strays, none])
        func value(_ metric: EvaluationMetric) -> Double? {
            values.first { $0.suite == "disease" && $0.datasetID == "all" && $0.metric == metric }?.value
        }
        #expect(value(.namesOptionRate).map { abs($0 - 2.0 / 3.0) < 1e-12 } == true)
        #expect(value(.choiceFollowsReasoningRate).map { abs($0 - 1.0 / 3.0) < 1e-12 } == true)
        // Both named answers name B, the correct option; the third names none.
        #expect(follows.reasoningNamesAnswer && strays.reasoningNamesAnswer && !none.reasoningNamesAnswer)
        #expect(value(.namesAnswerRate).map { abs($0 - 2.0 / 3.0) < 1e-12 } == true)
        // Naming only a wrong option is not naming the answer.
        #expect(!grade("These findings indicate dermatofibroma.", "C").reasoningNamesAnswer)
        // An option judgement names every option; only what comes before it is read.
        let judged = grade("These findings indicate dermatofibroma. "
                           + PromptText.optionJudgement(item.options, answer: "C"), "C")
        #expect(judged.reasonedLetters == ["C"] && judged.choiceFollowsReasoning && !judged.reasoningNamesAnswer)
    }

    @Test func planTakesBaseSFTEveryNthStepAndFinal() {
        func v(_ version: Int, _ stage: String, _ step: Int) -> PublishedPolicy {
            PublishedPolicy(version: version, step: step, stage: stage, baseSHA: "b", adapterSHA: nil,
                            learnerIncarnation: "i", admissionCapacity: 0)
        }
        let versions = [v(0, "base", 0), v(1, "sft", 0), v(2, "rl", 0), v(3, "rl", 1), v(4, "rl", 2), v(5, "rl", 3)]
        #expect(EvaluationWorker.plan(versions, evalEvery: 2, finalVersion: nil).map(\.version) == [0, 1, 4])
        #expect(EvaluationWorker.plan(versions, evalEvery: 2, finalVersion: 5).map(\.version) == [0, 1, 4, 5])
        #expect(EvaluationWorker.plan(Array(versions.prefix(2)), evalEvery: 2, finalVersion: 1).map(\.version) == [0, 1])
    }

    @Test func tablesHaveThePaperShape() {
        func rows(run: String, arm: RunArm, version: Int, stage: String, step: Int, d1: Double, d2: Double,
                  ood: Double) -> [EvaluationResultRow] {
            [
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "disease",
                                    datasetID: "d1", metric: "accuracy", value: d1, items: 10),
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "disease",
                                    datasetID: "d2", metric: "accuracy", value: d2, items: 10),
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "ood",
                                    datasetID: "all", metric: "accuracy", value: ood, items: 10),
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "lesion_condition",
                                    datasetID: "all", metric: "macro_f1", value: 0.25, items: 10),
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "all",
                                    datasetID: "all", metric: "format_failure_rate", value: 0.1, items: 40),
            ]
        }
        let all = rows(run: "s", arm: .skinR1, version: 0, stage: "base", step: 0, d1: 0.5, d2: 0.7, ood: 0.4)
            + rows(run: "s", arm: .skinR1, version: 1, stage: "sft", step: 0, d1: 0.6, d2: 0.6, ood: 0.45)
            + rows(run: "s", arm: .skinR1, version: 6, stage: "rl", step: 4, d1: 0.9, d2: 0.7, ood: 0.6)
            + rows(run: "r", arm: .rlOnly, version: 0, stage: "base", step: 0, d1: 0.1, d2: 0.1, ood: 0.1)
            + rows(run: "r", arm: .rlOnly, version: 5, stage: "rl", step: 4, d1: 0.7, d2: 0.7, ood: 0.5)
        let lines = EvaluationTable.lines(all)
        #expect(lines.map(\.label) == ["Base", "SFT", "RL-only step 4", "Skin-R1 step 4"])
        #expect(lines[0].runID == "s", "the shared base line comes from the first run")
        let text = EvaluationTable.render(all)
        let baseLine = text.split(separator: "\n").first { $0.hasPrefix("Base") }
        #expect(baseLine?.contains("0.6000") == true, "average of 0.5 and 0.7")
        #expect(text.contains("Skin-R1 step 4"))
        #expect(text.contains("0.8000"), "Skin-R1 average of 0.9 and 0.7")
        #expect(text.contains("Format failures") && text.contains("0.1000") && text.contains("0.2500"))
        #expect(EvaluationTable.render([]) == "no evaluation results yet")
    }

    /// Repeats of an ablation: per model, the mean and sample standard deviation of the
    /// in-distribution average over the repeats that have it.
    @Test func spreadOverRepeatsGivesMeanAndSampleDeviation() {
        func rows(run: String, arm: RunArm, version: Int, stage: String, step: Int, d1: Double, d2: Double) -> [EvaluationResultRow] {
            [("d1", d1), ("d2", d2)].map { dataset, value in
                EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "disease",
                                    datasetID: dataset, metric: "accuracy", value: value, items: 10)
            } + [EvaluationResultRow(runID: run, arm: arm, version: version, stage: stage, step: step, suite: "ood",
                                     datasetID: "all", metric: "accuracy", value: d1, items: 10)]
        }
        let first = rows(run: "s1", arm: .skinR1, version: 0, stage: "base", step: 0, d1: 0.2, d2: 0.4)
            + rows(run: "s1", arm: .skinR1, version: 6, stage: "rl", step: 4, d1: 0.2, d2: 0.2)
        let second = rows(run: "s2", arm: .skinR1, version: 0, stage: "base", step: 0, d1: 0.2, d2: 0.4)
            + rows(run: "s2", arm: .skinR1, version: 6, stage: "rl", step: 4, d1: 0.4, d2: 0.4)
            + rows(run: "r2", arm: .rlOnly, version: 5, stage: "rl", step: 4, d1: 0.5, d2: 0.5)
        let lines = EvaluationTable.spread([first, second]).split(separator: "\n").map(String.init)
        #expect(lines.first == "In-distribution disease accuracy over 2 repeats (sd: sample standard deviation)")
        let cells = { (label: String) in lines.first { $0.hasPrefix(label) }?.split(separator: " ").map(String.init) ?? [] }
        #expect(cells("Base").suffix(7) == ["2", "0.3000", "0.0000", "0.3000", "0.3000", "0.2000", "-"])
        // Skin-R1 step 4: averages 0.2 and 0.4, mean 0.3, sample sd sqrt(0.02) = 0.1414.
        #expect(cells("Skin-R1 step 4").suffix(7) == ["2", "0.3000", "0.1414", "0.2000", "0.4000", "0.3000", "-"])
        #expect(cells("RL-only step 4").suffix(7) == ["1", "0.5000", "-", "0.5000", "0.5000", "0.5000", "-"])
        #expect(EvaluationTable.spread([[]]) == "no evaluation results yet")
    }
}

@Suite("Evaluator end to end with the micro policy", .timeLimit(.minutes(6)))
struct EvaluationWorkerTests {
    /// A run whose suites are built and whose training is done: a micro policy as the base
    /// (version 0), RL step 0 and step 1 (not evaluated), step 2 (evaluated: 2 % evalEvery
    /// == 0) and step 3, the final version 4.
    private func finishedRun(_ bench: CatalogueBench) async throws -> (run: RunRecord, config: RunConfig) {
        var config = try RunConfig.profile("smoke", arm: .rlOnly)
        config.evalItemsPerSuite = 2
        config.maxNewTokens = 6
        config.evalEvery = 2
        config.promptEpochs = 1
        let run = try await bench.createRun(config)
        let producer = try bench.producer()
        _ = try await TrajectorySynthesisWorker(run: run, client: bench.client, producer: producer,
                                                knowledge: CatalogueBench.knowledge, logger: CatalogueBench.logger).prepare()
        try await producer.shutdown()

        let corpus = try await bench.client.query("SELECT item->>'prompt' AS p FROM eval_items LIMIT 20")
            .map { try $0.decode("p", as: String.self) }
            + ["<thinking> dark </thinking> <final diagnosis> B, malignant </final diagnosis>"]
        let tokenizer = try BPETokenizer.train(corpus: corpus, vocabSize: 300)
        let base = try PolicyModel(config: .micro(vocabSize: tokenizer.vocabSize), seed: 3)
        let artifacts = PolicyArtifacts(blobs: BlobStore(client: bench.client))
        let baseSHA = try await artifacts.storeBase(base, tokenizer: tokenizer)
        let adapter = try LoRAAdapter(modelConfig: base.config, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 4)
        for i in 0..<adapter.parameterCount { adapter.params[i] += Float((i * 7919) % 13) / 26 - 0.25 }
        let adapterSHA = try await artifacts.storeAdapter(adapter)
        for (version, stage, step) in [(0, "base", 0), (1, "rl", 0), (2, "rl", 1), (3, "rl", 2), (4, "rl", 3)] {
            try await bench.client.execute("""
                INSERT INTO policy_versions (run_id, version, step, stage, base_sha256, adapter_sha256,
                                             learner_incarnation, admission_capacity)
                VALUES (\(run.id), \(version), \(step), \(stage), \(baseSHA), \(version == 0 ? nil : adapterSHA), 'inc', 4)
                """)
        }
        try await run.mark(.trainingDone, detail: ["version": 4], on: bench.client)
        return (run, config)
    }

    private func worker(_ run: RunRecord, _ bench: CatalogueBench, instance: String,
                        onEvaluated: @escaping @Sendable (VersionEvaluation) -> Void = { _ in }) -> EvaluationWorker {
        EvaluationWorker(run: run, client: bench.client, evaluator: PolicyEvaluator(client: bench.client, logger: CatalogueBench.logger),
                         batchSize: 16, poll: .milliseconds(100), instanceID: instance, logger: CatalogueBench.logger,
                         onEvaluated: onEvaluated)
    }

    @Test func evaluatesBaseAndFinalWritesResultsAndMarksDone() async throws {
        try await CatalogueBench.with { bench in
            let (run, config) = try await finishedRun(bench)
            let evaluated = Mutex<[Int]>([])
            try await worker(run, bench, instance: "e1", onEvaluated: { result in
                evaluated.withLock { $0.append(result.policy.version) }
            }).run()
            #expect(evaluated.withLock { $0 } == [0, 3, 4])
            #expect(try await run.milestone(.evaluationDone, on: bench.client)?["version"] == 4)

            let items = try await EvaluationStore(client: bench.client).items(for: config)
            let versions = try await bench.client.query("SELECT DISTINCT version FROM eval_results WHERE run_id = \(run.id) ORDER BY version")
                .map { try $0.decode("version", as: Int.self) }
            #expect(versions == [0, 3, 4])
            let pooled = try #require(try await bench.client.query("""
                SELECT value, items FROM eval_results WHERE run_id = \(run.id) AND version = 4 AND suite = 'all'
                  AND dataset_id = 'all' AND metric = 'format_failure_rate'
                """).first)
            #expect(try pooled.decode("items", as: Int.self) == items.count)
            let rate: Double = try pooled.decode("value")
            #expect(rate >= 0 && rate <= 1)
            for suite in EvaluationSuite.allCases {
                #expect(try await bench.count("""
                    SELECT count(*) AS n FROM eval_results WHERE run_id = \(run.id) AND version = 0 AND suite = \(suite.rawValue)
                      AND metric = 'accuracy'
                    """) > 1, "suite \(suite.rawValue) has per-dataset and pooled accuracy")
            }
            #expect(try await bench.count("""
                SELECT count(*) AS n FROM eval_results WHERE run_id = \(run.id) AND metric = 'macro_f1' AND suite = 'lesion_condition'
                  AND dataset_id = 'all'
                """) == 3)

            // A restarted evaluator finds the work done and evaluates nothing again.
            let before: String = try await bench.client.query(
                "SELECT max(created_at)::text AS t FROM eval_results WHERE run_id = \(run.id)").first!.decode("t")
            try await worker(run, bench, instance: "e2").run()
            let after: String = try await bench.client.query(
                "SELECT max(created_at)::text AS t FROM eval_results WHERE run_id = \(run.id)").first!.decode("t")
            #expect(before == after)

            let table = try await EvaluationTable.render(runIDs: [run.id], on: bench.client)
            #expect(table.contains("Base") && table.contains("RL-only step 2") && table.contains("RL-only step 3"))
        }
    }

    /// Two evaluators of one run share its versions: each planned version is evaluated once,
    /// by one of them, and both end when the last is done.
    @Test func twoEvaluatorsShareTheVersionsAndEvaluateEachOnce() async throws {
        try await CatalogueBench.with { bench in
            let (run, _) = try await finishedRun(bench)
            let evaluated = Mutex<[(String, Int)]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for instance in ["e1", "e2"] {
                    let worker = worker(run, bench, instance: instance, onEvaluated: { result in
                        evaluated.withLock { $0.append((instance, result.policy.version)) }
                    })
                    group.addTask { try await worker.run() }
                }
                try await group.waitForAll()
            }
            let done = evaluated.withLock { $0 }
            #expect(done.map(\.1).sorted() == [0, 3, 4], "evaluated: \(done)")
            #expect(try await run.milestone(.evaluationDone, on: bench.client)?["version"] == 4)
            let claims = try await bench.client.query("SELECT version, instance_id FROM eval_claims WHERE run_id = \(run.id) ORDER BY version")
                .map { (try $0.decode("instance_id", as: String.self), try $0.decode("version", as: Int.self)) }
            #expect(claims.map(\.1) == [0, 3, 4])
            for (instance, version) in done {
                #expect(claims.contains { $0 == (instance, version) }, "version \(version) was evaluated by its claimant")
            }
        }
    }

    /// A claim stays with its instance while that instance heartbeats, goes back to the same
    /// instance at once (a restart), and passes to another once the claimant is silent.
    @Test func aClaimIsTakenOverOnlyFromASilentInstance() async throws {
        try await CatalogueBench.with { bench in
            let (run, _) = try await finishedRun(bench)
            let store = EvaluationStore(client: bench.client)
            func beat(_ instance: String, secondsAgo: Int) async throws {
                try await bench.client.execute("""
                    INSERT INTO service_heartbeats (service, instance_id, host, pid, version, started_at, last_seen, status, counters)
                    VALUES ('evaluator', \(instance), 'h', 1, 'v', now(), now() - make_interval(secs => \(Double(secondsAgo))),
                            'running', '{}')
                    ON CONFLICT (service, instance_id) DO UPDATE SET last_seen = EXCLUDED.last_seen
                    """)
            }
            func claim(_ instance: String, staleAfter: Duration = .seconds(15)) async throws -> EvaluationClaim? {
                try await store.claim(runID: run.id, version: 3, instanceID: instance, staleAfter: staleAfter)
            }
            try await beat("e1", secondsAgo: 0)
            #expect(try await claim("e1") == EvaluationClaim(takenFrom: nil))
            #expect(try await claim("e2") == nil)
            #expect(try await claim("e1") == EvaluationClaim(takenFrom: nil), "the claimant takes its own claim back")
            // Silent for 30 s, but claimed just now: not yet taken over.
            try await beat("e1", secondsAgo: 30)
            #expect(try await claim("e2") == nil)
            try await bench.client.execute("UPDATE eval_claims SET claimed_at = now() - interval '1 minute' WHERE run_id = \(run.id)")
            #expect(try await claim("e2") == EvaluationClaim(takenFrom: "e1"), "taken over, naming the silent claimant")
            #expect(try await claim("e1", staleAfter: .seconds(3600)) == nil, "e2 holds it now")
        }
    }
}
