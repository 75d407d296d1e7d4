import Domain
import NeuralNet
import Pipeline
import Testing
import Training
@testable import Workers

/// The numeric GRPO step: splitting the batch into chunks, or running each group's answers
/// as one branched row, must not change the objective.
struct LearnerUpdateTests {
    /// Three groups of two answers; a group's answers share the image and the prompt.
    static func rows(vocab: Int) throws -> [GRPOBatchRow] {
        var rows: [GRPOBatchRow] = []
        for j in 0..<6 {
            let g = j / 2
            let image = (0..<(8 * 8 * 3)).map { Float(($0 * (g + 3)) % 17) / 8 - 1 }
            let prompt: [Int32] = [1] + (0..<(3 + g)).map { Int32(20 + ($0 * 7 + g) % (vocab - 30)) }
            let tokens: [Int32] = (0..<(2 + j % 4)).map { Int32(40 + ($0 * 11 + j * 5) % (vocab - 50)) }
            let answer = RolloutAnswer(tokens: tokens, text: "", behaviourLogProbs: tokens.map { _ in -5.2 }, finished: true)
            rows.append(try GRPOBatchRow(image: image, prompt: prompt, answer: answer, advantage: j % 2 == 0 ? 1 : -0.5,
                                         capacity: 28, groupID: "g\(j / 2)"))
        }
        return rows
    }

    /// How the rows' reference log-probabilities reach the step.
    enum WorkerReference { case none, computed, wrong }

    static func run(chunk: Int, aggregation: LossAggregation, workerReference: WorkerReference = .none,
                    branched: Bool = true) throws -> GRPOUpdate.Result {
        let config = ModelConfig.micro(vocabSize: 300)
        let base = try PolicyModel(config: config, seed: 5)
        let reference = try base.clone()
        var rows = try rows(vocab: 300)
        if workerReference != .none {
            // What a rollout worker sends: its own copy of the base, teacher-forced on the answers.
            let workerCopy = try base.clone()
            let computed = try workerCopy.answerLogProbs(
                images: rows.flatMap(\.image), prompts: rows.map { Array($0.tokens[..<$0.responseStart]) },
                answers: rows.map { Array($0.tokens[$0.responseStart...]) })
            for i in rows.indices {
                var answer = RolloutAnswer(tokens: Array(rows[i].tokens[rows[i].responseStart...]), text: "",
                                           behaviourLogProbs: rows[i].behaviourLogProbs, finished: true)
                answer.referenceLogProbs = workerReference == .computed ? computed[i] : computed[i].map { $0 - 1 }
                rows[i] = try GRPOBatchRow(image: rows[i].image, prompt: Array(rows[i].tokens[..<rows[i].responseStart]),
                                           answer: answer, advantage: rows[i].advantage, capacity: 28,
                                           groupID: rows[i].groupID, referenceFromWorker: true)
            }
        }
        // A non-zero adapter, so that the policy differs from the reference (KL > 0).
        let adapter = try LoRAAdapter(modelConfig: config, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 9)
        for i in 0..<adapter.parameterCount { adapter.params[i] += Float((i * 37) % 13 - 6) * 0.01 }
        try base.attach(adapter)
        let settings = GRPOSettings(objective: .decoupled, aggregation: aggregation, clipEpsilon: 0.2, klBeta: 0.04,
                                    behaviourWeightCap: 2.0)
        return try GRPOUpdate.step(policy: base, reference: reference, optimizer: AdamW(layout: adapter.layout),
                                   rows: rows, settings: settings, chunk: chunk, dropoutSeed: nil,
                                   learningRate: 1e-3, maxNorm: 1e6, branched: branched)
    }

    @Test(arguments: [LossAggregation.sequenceMean, .token])
    func chunkingLeavesTheObjectiveUnchanged(aggregation: LossAggregation) throws {
        let whole = try Self.run(chunk: 64, aggregation: aggregation)
        for chunk in [1, 4] {
            let split = try Self.run(chunk: chunk, aggregation: aggregation)
            #expect(abs(split.loss - whole.loss) < 1e-6, "chunk \(chunk): loss \(split.loss) vs \(whole.loss)")
            #expect(abs(split.gradNorm - whole.gradNorm) <= 1e-4 * max(1, whole.gradNorm),
                    "chunk \(chunk): grad norm \(split.gradNorm) vs \(whole.gradNorm)")
            #expect(abs(split.statistics.klMean - whole.statistics.klMean) < 1e-7)
        }
        #expect(whole.gradNorm > 0 && whole.statistics.klMean > 0)
    }

    /// One branched row per group gives the step of one row per answer, on less computation.
    @Test(arguments: [LossAggregation.sequenceMean, .token])
    func branchedGroupsGiveTheStepOfOneRowPerAnswer(aggregation: LossAggregation) throws {
        let plain = try Self.run(chunk: 4, aggregation: aggregation, branched: false)
        let branched = try Self.run(chunk: 4, aggregation: aggregation, branched: true)
        #expect(abs(branched.loss - plain.loss) < 1e-6, "loss \(branched.loss) vs \(plain.loss)")
        #expect(abs(branched.gradNorm - plain.gradNorm) <= 1e-4 * max(1, plain.gradNorm))
        #expect(abs(branched.statistics.klMean - plain.statistics.klMean) < 1e-7)
        #expect(abs(branched.statistics.clipFraction - plain.statistics.clipFraction) < 1e-9)
        // Each group's prompt is computed once instead of twice.
        let rows = try Self.rows(vocab: 300)
        let prompts = rows.reduce(0) { $0 + $1.responseStart }
        #expect(plain.tokens == rows.reduce(0) { $0 + $1.tokens.count })
        #expect(branched.tokens == plain.tokens - prompts / 2)
    }

    /// The step's direction: a few steps on the same groups raise the log-probability of every
    /// answer with a positive advantage and lower that of every answer with a negative one,
    /// branched or not, under either aggregation.
    @Test(arguments: [LossAggregation.sequenceMean, .token], [false, true])
    func stepsFavourAnswersWithPositiveAdvantage(aggregation: LossAggregation, branched: Bool) throws {
        let config = ModelConfig.micro(vocabSize: 300)
        let policy = try PolicyModel(config: config, seed: 5)
        let reference = try policy.clone()
        let adapter = try LoRAAdapter(modelConfig: config, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 9)
        try policy.attach(adapter)
        let rows = try Self.rows(vocab: 300)
        func answerLogProbs() throws -> [Float] {
            try policy.answerLogProbs(images: rows.flatMap(\.image), prompts: rows.map { Array($0.tokens[..<$0.responseStart]) },
                                      answers: rows.map { Array($0.tokens[$0.responseStart...]) }).map { $0.reduce(0, +) }
        }
        let before = try answerLogProbs()
        let optimizer = AdamW(layout: adapter.layout)
        let settings = GRPOSettings(objective: .decoupled, aggregation: aggregation, clipEpsilon: 0.2, klBeta: 0.04,
                                    behaviourWeightCap: 2.0)
        for _ in 0..<8 {
            _ = try GRPOUpdate.step(policy: policy, reference: reference, optimizer: optimizer, rows: rows,
                                    settings: settings, chunk: 16, dropoutSeed: nil, learningRate: 3e-3, maxNorm: 1,
                                    branched: branched)
        }
        let after = try answerLogProbs()
        for (i, row) in rows.enumerated() {
            let change = after[i] - before[i]
            #expect(row.advantage > 0 ? change > 0.02 : change < -0.02,
                    "answer \(i), advantage \(row.advantage): log-probability \(before[i]) -> \(after[i])")
        }
    }

    /// Groups are packed only where the rows share the group, the image and the prompt, and a
    /// chunk never holds more answers than its size.
    @Test func chunksPackOnlyRowsThatShareTheirPrompt() throws {
        var rows = try Self.rows(vocab: 300)
        rows[3] = try GRPOBatchRow(image: rows[3].image, prompt: Array(rows[3].tokens[..<rows[3].responseStart]) + [7],
                                   answer: RolloutAnswer(tokens: [50, 51], text: "", behaviourLogProbs: [-1, -1], finished: true),
                                   advantage: 1, capacity: 28, groupID: rows[3].groupID)
        let chunks = try GRPOUpdate.chunks(rows, size: 3, branched: true)
        #expect(chunks.map { $0.batch.branches?.map(\.answerLengths.count) ?? [] } == [[2, 1], [1, 2]])
        #expect(chunks.allSatisfy { $0.rows.count <= 3 })
        #expect(chunks.flatMap(\.rows).map(\.groupID) == rows.map(\.groupID))
    }

    /// Reference log-probabilities a worker computed with its copy of the base give the step
    /// the learner would have taken computing them itself, and the step does use them: off
    /// by one nat each, they change the KL term.
    @Test func referenceLogProbsFromWorkersGiveTheLearnersOwnStep() throws {
        let own = try Self.run(chunk: 4, aggregation: .sequenceMean)
        let brought = try Self.run(chunk: 4, aggregation: .sequenceMean, workerReference: .computed)
        #expect(own.referenceFromWorkers == 0 && brought.referenceFromWorkers == 6)
        #expect(abs(brought.loss - own.loss) < 1e-6, "loss \(brought.loss) vs \(own.loss)")
        #expect(abs(brought.statistics.klMean - own.statistics.klMean) < 1e-6,
                "KL \(brought.statistics.klMean) vs \(own.statistics.klMean)")
        #expect(abs(brought.gradNorm - own.gradNorm) <= 1e-4 * max(1, own.gradNorm))
        let wrong = try Self.run(chunk: 4, aggregation: .sequenceMean, workerReference: .wrong)
        #expect(wrong.referenceFromWorkers == 6)
        #expect(abs(wrong.statistics.klMean - own.statistics.klMean) > 0.1,
                "KL \(wrong.statistics.klMean) with shifted reference vs \(own.statistics.klMean)")
    }

    /// A row keeps a worker's reference log-probabilities only when the group names the
    /// learner's reference and they cover the answer's kept tokens; they are cut with it.
    @Test func rowsKeepWorkersReferenceOnlyWhenItFits() throws {
        let image = [Float](repeating: 0, count: 8 * 8 * 3)
        let answer = RolloutAnswer(tokens: [5, 6, 7, 8], text: "", behaviourLogProbs: [-1, -1, -1, -1], finished: true,
                                   referenceLogProbs: [-2, -3, -4, -5])
        let cut = try GRPOBatchRow(image: image, prompt: [1, 2], answer: answer, advantage: 1, capacity: 5,
                                   groupID: "g", referenceFromWorker: true)
        #expect(cut.referenceLogProbs == [-2, -3, -4], "cut with the answer to the 3 tokens that fit")
        let otherBase = try GRPOBatchRow(image: image, prompt: [1, 2], answer: answer, advantage: 1, capacity: 28,
                                         groupID: "g", referenceFromWorker: false)
        #expect(otherBase.referenceLogProbs == nil)
        var short = answer
        short.referenceLogProbs = [-2, -3]
        let tooShort = try GRPOBatchRow(image: image, prompt: [1, 2], answer: short, advantage: 1, capacity: 28,
                                        groupID: "g", referenceFromWorker: true)
        #expect(tooShort.referenceLogProbs == nil, "two values for four tokens: the learner computes them")
        var impossible = answer
        impossible.referenceLogProbs = [-2, .nan, 0.5, -1]
        let bad = try GRPOBatchRow(image: image, prompt: [1, 2], answer: impossible, advantage: 1, capacity: 28,
                                   groupID: "g", referenceFromWorker: true)
        #expect(bad.referenceLogProbs == nil, "NaN and a positive log-probability: the learner computes them")
    }
}

struct SFTReplayTests {
    /// The replayed base examples beside a batch of trajectories: the run's ratio per
    /// trajectory, rounded, at least one, and none when the ratio is 0.
    @Test func replayFollowsTheRatioPerTrajectory() throws {
        #expect(SFTStage.replayCount(trajectories: 16, ratio: 1.0 / 3) == 5)
        #expect(SFTStage.replayCount(trajectories: 16, ratio: 1) == 16)
        #expect(SFTStage.replayCount(trajectories: 16, ratio: 0.5) == 8)
        #expect(SFTStage.replayCount(trajectories: 2, ratio: 0.1) == 1)
        #expect(SFTStage.replayCount(trajectories: 16, ratio: 0) == 0)
        let smoke = try RunConfig.profile("smoke", arm: .skinR1)
        #expect(smoke.sftReplayPerTrajectory == nil && smoke.sftReplayRatio == 1.0 / 3, "unset (older runs): one per three")
        let quick = try RunConfig.profile("quick", arm: .skinR1)
        #expect(quick.sftReplayRatio == 0, "the quick profile replays nothing")
        #expect(try quick.overriding(["sftReplayPerTrajectory=1"]).sftReplayRatio == 1)
    }

    /// The replay keeps the base's mix unless its naming questions name families: then they
    /// are left out and their share goes to the drills and the visual questions in proportion.
    @Test func replayLeavesOutFamilyNamingQuestions() throws {
        let example = VisualExample(imageSHA: "i", prompt: "p", answer: "a")
        let corpus = BaseCorpus(visual: [example], naming: [example, example], lookup: [example])
        var config = try RunConfig.profile("smoke", arm: .skinR1).overriding(
            ["pretrainNamingShare=0.8", "pretrainLookupShare=0.1"])
        let same = SFTStage.replayMix(corpus, config: config)
        #expect(same.corpus == corpus && same.naming == 0.8 && same.lookup == 0.1)
        config.pretrainNamingDepth = 1
        let mix = SFTStage.replayMix(corpus, config: config)
        #expect(mix.corpus.naming.isEmpty && mix.corpus.visual == corpus.visual && mix.corpus.lookup == corpus.lookup)
        #expect(mix.naming == 0 && abs(mix.lookup - 0.5) < 1e-12)
        config.pretrainNamingShare = 1
        config.pretrainLookupShare = 0
        #expect(SFTStage.replayMix(corpus, config: config).lookup == 0, "nothing but naming: the visual questions alone")
    }

    /// SFT's symmetries touch only the trajectories' images at the front of a batch, show
    /// every symmetry over many draws, and are off unless asked for.
    @Test func symmetriesTurnOnlyTheTrajectoriesImages() throws {
        let side = 2, size = 2 * 2 * 3
        let batch = (0..<(3 * size)).map(Float.init)
        var rng = SplitMix64(seed: 5, stream: "test")
        var seen = Set<[Float]>()
        for _ in 0..<200 {
            let out = SFTStage.inSymmetries(batch, trajectories: 2, side: side, rng: &rng)
            #expect(out.count == batch.count)
            #expect(Array(out[(2 * size)...]) == Array(batch[(2 * size)...]), "the replayed image is left as it is")
            let first = Array(out[0..<size])
            #expect((0..<8).contains { PolicyImage.symmetry($0, of: Array(batch[0..<size]), side: side) == first })
            seen.insert(first)
        }
        #expect(seen.count == 8, "all eight symmetries drawn")
        #expect(try RunConfig.profile("smoke", arm: .skinR1).showsSymmetries == false)
        #expect(try RunConfig.profile("smoke", arm: .skinR1).overriding(["sftImageSymmetries=true"]).showsSymmetries)
    }
}
