import Catalogue
import Domain

/// One RL prompt of a run: a question for one training case in one epoch.
public struct RunPrompt: Sendable, Equatable {
    /// Unique across runs: run, epoch and the builder's item id.
    public var promptID: String
    public var epoch: Int
    public var datasetID: String
    public var item: QuestionItem
}

/// One SFT trajectory of a run.
public struct RunTrajectory: Sendable, Equatable {
    /// Unique across runs: the run id before the synthesizer's id (which depends only on
    /// the case, the type and the seed, so two runs with one seed would collide).
    public var trajectoryID: String
    public var trajectory: Trajectory
}

/// Builds a run's SFT trajectories (METHOD.md 3.3) and RL prompts (METHOD.md 4).
public struct TrainingCorpusBuilder: Sendable {
    public let questions: QuestionBuilder
    public let synthesizer: TrajectorySynthesizer
    /// Types made from every textbook exemplar: all three, so the mix is 1:1:1 up to the
    /// exemplars for which a differential case cannot be found.
    public let types: [TrajectoryType]

    public init(questions: QuestionBuilder, synthesizer: TrajectorySynthesizer,
                types: [TrajectoryType] = TrajectoryType.allCases) {
        self.questions = questions
        self.synthesizer = synthesizer
        self.types = types
    }

    /// Every type of trajectory from every textbook exemplar with a diagnosis node, in
    /// exemplar order. Exemplars a type cannot be made for are tallied and passed over.
    /// With `posed`, each trajectory is followed by its posed form (`TrajectorySynthesizer.posed`):
    /// a type 1 as a disease question over the textbook labels, a type 2 or 3 as a DDx
    /// question whose options include the look-alike it argues against; with `judgesOptions`
    /// its reasoning ends by judging every option, as the base's judged naming questions do.
    public func trajectories(runID: String, textbook: [StoredCase], seed: UInt64, posed: Bool = false,
                             judgesOptions: Bool = false, skipped: inout SkipTally) async throws -> [RunTrajectory] {
        let exemplars = textbook.compactMap(\.textbookCase).sorted { $0.caseID < $1.caseID }
        let datasetOf = Dictionary(textbook.map { ($0.id, $0.datasetID) }, uniquingKeysWith: { first, _ in first })
        let questionCases = exemplars.map {
            QuestionCase(caseID: $0.caseID, dataset: datasetOf[$0.caseID] ?? "textbook", label: $0.label, imageSHA: $0.imageSHA)
        }
        let pathTerms = DatasetPathTerms(cases: questionCases, taxonomy: questions.taxonomy)
        let labels = Set(exemplars.map(\.label))
        var out: [RunTrajectory] = []
        var seen = Set<String>()
        var posedCount = 0
        for exemplar in exemplars {
            for type in types {
                do {
                    let trajectory = try await synthesizer.synthesize(type, primary: exemplar, cases: exemplars, seed: seed)
                    let id = "\(runID):\(trajectory.id)"
                    guard seen.insert(id).inserted else { continue }
                    out.append(RunTrajectory(trajectoryID: id, trajectory: trajectory))
                    guard posed else { continue }
                    let question = QuestionCase(caseID: trajectory.caseID, dataset: datasetOf[trajectory.caseID] ?? "textbook",
                                                label: trajectory.finalDiagnosis, imageSHA: trajectory.imageSHA)
                    // Answer positions rotate A, B, C, D over the posed forms, as in RL and
                    // evaluation, so SFT teaches no letter prior.
                    let item = try (type == .direct
                        ? questions.diseaseItem(for: question, pathTerms: pathTerms, seed: seed)
                        : questions.ddxItem(for: question, caseLabels: labels, seed: seed ^ UInt64(type.rawValue)))
                        .placingAnswer(at: posedCount % QuestionBuilder.letters.count)
                    posedCount += 1
                    let asked = try synthesizer.posed(trajectory, as: item, judgesOptions: judgesOptions)
                    out.append(RunTrajectory(trajectoryID: "\(runID):\(asked.id)", trajectory: asked))
                } catch let error as TrajectoryError {
                    skipped.add("trajectory type \(type.rawValue): \(error.message)")
                } catch let error as QuestionBuildError {
                    skipped.add("posed trajectory type \(type.rawValue): \(error.code.rawValue)")
                }
            }
        }
        return out
    }

    /// RL prompts from the training split of every training dataset, `epochs` passes, each
    /// pass with its own option draw and its own seeded order, answer positions balanced. Cases without a diagnosis
    /// node cannot carry a disease question and are tallied. With `conditionShare` > 0 a
    /// share of the cases (drawn per case and pass) is also asked its lesion condition,
    /// right after its disease question, in the fixed option order evaluation uses; the
    /// disease questions stay what they are without it. `offeringDiagnosis`: every disease
    /// question has the case's diagnosis among its options (`QuestionBuilder.rlPrompt`).
    public func prompts(runID: String, training: [StoredCase], epochs: Int, seed: UInt64, conditionShare: Double = 0,
                        offeringDiagnosis: Bool = false, skipped: inout SkipTally) -> [RunPrompt] {
        Self.prompts(questions: questions, runID: runID, training: training, epochs: epochs, seed: seed,
                     conditionShare: conditionShare, offeringDiagnosis: offeringDiagnosis, skipped: &skipped)
    }

    /// The prompts above, drawn with `questions` alone (what the learner needs to see the
    /// texts of RL's first pass as the reference draw makes them).
    public static func prompts(questions: QuestionBuilder, runID: String, training: [StoredCase], epochs: Int,
                               seed: UInt64, conditionShare: Double = 0, offeringDiagnosis: Bool = false,
                               skipped: inout SkipTally) -> [RunPrompt] {
        let trainSplit = training.filter { $0.split == .train }.sorted { $0.id < $1.id }
        let cases = trainSplit.compactMap(EvaluationSuiteBuilder.questionCase)
        for _ in 0..<(trainSplit.count - cases.count) { skipped.add("rl prompt: case has no diagnosis node") }
        let pathTerms = DatasetPathTerms(cases: cases, taxonomy: questions.taxonomy)
        var out: [RunPrompt] = []
        var diseasePrompts = 0
        for epoch in 0..<max(0, epochs) {
            let epochSeed = Self.epochSeed(seed, epoch: epoch)
            var rng = SplitMix64(seed: seed, stream: "rl-prompt-order|\(epoch)")
            // Its own stream, so that the disease questions keep their order and draws.
            var asks = SplitMix64(seed: seed, stream: "rl-condition-prompts|\(epoch)")
            for question in rng.shuffled(cases) {
                let alsoCondition = conditionShare > 0 && asks.nextDouble() < conditionShare
                do {
                    // Answer positions rotate A, B, C, D over each pass: no letter pays on its own.
                    let item = try questions.rlPrompt(for: question, pathTerms: pathTerms, seed: epochSeed,
                                                       offeringDiagnosis: offeringDiagnosis)
                        .placingAnswer(at: diseasePrompts % QuestionBuilder.letters.count)
                    diseasePrompts += 1
                    out.append(RunPrompt(promptID: "\(runID):e\(epoch):\(item.id)", epoch: epoch,
                                         datasetID: question.dataset, item: item))
                } catch {
                    skipped.add("rl prompt: \(error.code.rawValue)")
                }
                guard alsoCondition else { continue }
                do {
                    let item = try questions.conditionItem(for: question, seed: epochSeed).asked(for: .reinforcement)
                    out.append(RunPrompt(promptID: "\(runID):e\(epoch):\(item.id)", epoch: epoch,
                                         datasetID: question.dataset, item: item))
                } catch {
                    skipped.add("rl condition prompt: \(error.code.rawValue)")
                }
            }
        }
        return out
    }

    static func epochSeed(_ seed: UInt64, epoch: Int) -> UInt64 {
        StableHash.fnv1a64("rl-prompt-epoch|\(seed)|\(epoch)")
    }
}
