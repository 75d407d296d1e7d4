import Domain
import Foundation

/// Which stages an experiment arm runs (METHOD.md 7: base, SFT only, RL without SFT, Skin-R1).
public enum RunArm: String, Codable, Sendable, CaseIterable {
    case skinR1 = "skin-r1"
    case rlOnly = "rl-only"
    case sftOnly = "sft-only"

    public var runsSFT: Bool { self != .rlOnly }
    public var runsRL: Bool { self != .sftOnly }
}

/// How the base's naming questions and lookup drills are asked (`VisualCorpus.naming`,
/// `VisualCorpus.drills`).
public enum BaseQuestionFormat: String, Codable, Sendable, CaseIterable {
    /// Their own wording: "Which skin condition does this image show?" among other labels;
    /// "Which option names X?" answered with the letter alone.
    case plain
    /// The disease question as evaluation asks it (its stem, options drawn from the label's
    /// path and the dataset's path terms). A naming question concludes the label; a drill is
    /// given a reasoning that concludes one of its options and learns the letter and that
    /// option's condition.
    case disease
    /// As `disease`, and after its conclusion the reasoning judges every option in turn
    /// (`PromptText.optionJudgement`: "yes" for the concluded one), so the letter is the one
    /// judged "yes".
    case judged

    /// Whether answers in this format end their reasoning by judging every option.
    public var judgesOptions: Bool { self == .judged }
}

/// Every knob of one training run, stored in `runs.config` so that every service of the
/// run reads the same values. Profiles give sizes that fit a budget on two cores.
public struct RunConfig: Codable, Sendable, Equatable {
    public var profile: String
    public var arm: RunArm
    public var seed: UInt64
    /// Synthetic corpus scale: small, default or large.
    public var dataScale: String

    // The policy.
    public var modelSize: String          // one of ModelConfig.sizeNames
    public var vocabSize: Int
    /// Whether the tokenizer keeps every taxonomy name whole as one token
    /// (`BPETokenizer.phrases`); nil in older runs: no.
    public var wholeNameTokens: Bool?
    /// Full-weight steps that make the base model (general visual description; diagnosis
    /// names only through `pretrainNamingShare`).
    public var pretrainSteps: Int
    public var pretrainLearningRate: Double
    /// The share of pretraining batches that are questions naming a train-split or textbook
    /// case's label (`VisualCorpus.naming`); nil in older runs: none.
    public var pretrainNamingShare: Double?
    /// The share of pretraining batches that are text-only drills in answering with the letter
    /// of the option that names what the question asks for (`VisualCorpus.lookup`); nil in
    /// older runs: none.
    public var pretrainLookupShare: Double?
    /// The first this many base steps train on lookup drills alone, before the mix above;
    /// nil in older runs: none. With a warm-up the base's steps run two schedules one after
    /// the other: the warm-up's, peaking at `pretrainLookupWarmupLearningRate`, then the
    /// mix's over the remaining steps, peaking at `pretrainLearningRate`.
    public var pretrainLookupWarmup: Int?
    /// The peak learning rate of the lookup warm-up; nil: `pretrainLearningRate`.
    public var pretrainLookupWarmupLearningRate: Double?
    /// How the base's lookup drills are asked; nil in older runs: plain.
    public var pretrainDrillFormat: BaseQuestionFormat?
    /// How the base's naming questions are asked; nil in older runs: plain.
    public var pretrainNamingFormat: BaseQuestionFormat?
    /// The depth in the taxonomy the base's naming questions name a label at (1: its
    /// top-level family, "Benign melanocytic lesion" for a dermal nevus); nil: the label
    /// itself. A base that tells only the families apart leaves the diagnoses themselves to
    /// the textbook's trajectories (SFT) and to RL, as a general-purpose model would.
    public var pretrainNamingDepth: Int?
    /// The share of the pretraining learning rate the image-reading tensors (vision blocks,
    /// connector) move by, outside a lookup warm-up; nil in older runs: 1. A rate that lets
    /// the decoder learn quickly can stall the vision blocks.
    public var pretrainImageRateShare: Double?
    public var loraRank: Int
    public var loraAlpha: Double
    public var loraDropout: Double
    public var batchSize: Int

    // SFT (METHOD.md 6.1).
    public var sftEpochs: Int
    public var sftLearningRate: Double
    /// How much the trajectories say (nil in runs recorded before this knob: full).
    public var trajectoryStyle: TrajectoryStyle?
    /// Whether every trajectory is also posed as a multiple-choice question in the RL
    /// answer format and trained on too (nil in older runs: no).
    public var posedTrajectories: Bool?
    /// Base examples (`VisualCorpus.corpus`) replayed per trajectory in every SFT batch, so
    /// that SFT does not wear away what the base learned; nil in older runs: one per three.
    public var sftReplayPerTrajectory: Double?
    /// The parts of the trajectory corpus SFT trains on (`SFTCorpusPart.parse`), for measuring
    /// what each part does; nil: all of them, as METHOD.md 6.1 trains on.
    public var sftTrajectoryParts: String?
    /// Whether SFT shows each trajectory's image in one of the square's eight symmetries
    /// (turned, mirrored), a new one every time it is seen; nil in older runs: no.
    public var sftImageSymmetries: Bool?

    public var style: TrajectoryStyle { trajectoryStyle ?? .full }
    public var posesTrajectories: Bool { posedTrajectories ?? false }
    public var sftReplayRatio: Double { sftReplayPerTrajectory ?? 1.0 / 3 }
    public var showsSymmetries: Bool { sftImageSymmetries ?? false }
    public var namingShare: Double { pretrainNamingShare ?? 0 }
    public var keepsNamesWhole: Bool { wholeNameTokens ?? false }
    public var lookupShare: Double { pretrainLookupShare ?? 0 }
    public var lookupWarmup: Int { pretrainLookupWarmup ?? 0 }
    public var lookupWarmupLearningRate: Double { pretrainLookupWarmupLearningRate ?? pretrainLearningRate }
    public var drillFormat: BaseQuestionFormat { pretrainDrillFormat ?? .plain }
    public var namingFormat: BaseQuestionFormat { pretrainNamingFormat ?? .plain }
    public var imageRateShare: Double { pretrainImageRateShare ?? 1 }
    public var minP: Double { samplingMinP ?? 0 }
    public var referenceOnWorkers: Bool { workerReferenceLogProbs ?? false }
    public var conditionPromptShare: Double { rlConditionShare ?? 0 }
    public var promptsOfferDiagnosis: Bool { rlPromptsOfferDiagnosis ?? false }
    public var rlDropout: Double { rlLoraDropout ?? loraDropout }

    // GRPO (METHOD.md 6.2, 6.3).
    public var rlSteps: Int
    public var rlLearningRate: Double
    public var groupsPerStep: Int
    public var groupSize: Int
    public var temperature: Double
    /// Min-p truncation of the rollout sampler (`SamplingOptions.minP`); nil in older runs: none.
    public var samplingMinP: Double?
    public var maxNewTokens: Int
    public var stalenessBound: Int
    public var objective: String          // decoupled or behaviour
    public var aggregation: String        // sequence-mean or token
    public var clipEpsilon: Double
    public var klBeta: Double
    public var behaviourWeightCap: Double
    public var skipZeroVariance: Bool
    public var promptEpochs: Int
    /// Whether rollout workers compute each answer's reference log-probabilities (the base
    /// without adapter is the reference, and every worker holds it) and send them with the
    /// group, so that the learner, the one process that cannot scale, skips that forward
    /// pass; nil in older runs: no, the learner computes them.
    public var workerReferenceLogProbs: Bool?
    /// The share of training cases that RL also asks their lesion condition (A benign, B
    /// malignant, C precancerous in situ), drawn per case and pass, besides their disease
    /// question; nil: none, as METHOD.md 4 asks only disease questions. RL on disease
    /// questions alone can teach their answer format to the condition answers (seen with
    /// --seed 3). The base and the disease questions are those of the run without it.
    public var rlConditionShare: Double?
    /// Whether every RL disease question offers the case's diagnosis among its options, as
    /// evaluation's do; nil in older runs: no. Without it an RL prompt offers 1-3 nodes of the
    /// path, drawn as the paper's reference implementation draws them, so that about a quarter
    /// of the quick profile's prompts pay the full reward for a coarser option (a family), the
    /// answer evaluation counts wrong when the diagnosis is offered beside it. One quick run
    /// with it: disease accuracy 0.244 at step 200 against 0.233 without (README, "What RL
    /// changes"): the share of rollouts choosing the diagnosis did not rise either.
    public var rlPromptsOfferDiagnosis: Bool?
    /// LoRA dropout of the GRPO adapter; nil: `loraDropout`, as SFT uses. With 0 the
    /// learner's gradient pass gives pi_prox itself, so it skips the proximal forward pass.
    public var rlLoraDropout: Double?

    // Bookkeeping.
    public var checkpointEvery: Int
    /// Evaluate RL versions every N steps (plus the base, the SFT result and the last step).
    public var evalEvery: Int
    /// Items per evaluation suite and dataset (0: all).
    public var evalItemsPerSuite: Int

    public static let profiles = ["smoke", "quick", "paper"]

    /// The settings of a named profile for an arm.
    public static func profile(_ name: String, arm: RunArm, seed: UInt64 = 20251125) throws -> RunConfig {
        var config = RunConfig(
            profile: name, arm: arm, seed: seed, dataScale: "small",
            modelSize: "micro", vocabSize: 512, pretrainSteps: 40, pretrainLearningRate: 3e-3,
            loraRank: 8, loraAlpha: 16, loraDropout: 0.05, batchSize: 8,
            sftEpochs: 1, sftLearningRate: 2e-3,
            rlSteps: 4, rlLearningRate: 1e-3, groupsPerStep: 2, groupSize: 4, temperature: 1.0, maxNewTokens: 24,
            stalenessBound: 1, objective: "decoupled", aggregation: "sequence-mean", clipEpsilon: 0.2, klBeta: 0.04,
            behaviourWeightCap: 2.0, skipZeroVariance: false, promptEpochs: 1,
            checkpointEvery: 2, evalEvery: 2, evalItemsPerSuite: 8)
        // The profiles train micro and nano policies (a 240-token context at most): short
        // trajectories, also posed as questions, so that SFT teaches the answer RL and
        // evaluation ask for (METHOD.md 3.4) instead of reasoning that is cut off.
        config.trajectoryStyle = .compact
        config.posedTrajectories = true
        config.workerReferenceLogProbs = true
        // GRPO's adapter without dropout (METHOD.md 6.2 leaves it open): the ratio to the
        // proximal policy then has no dropout noise, and the learner's gradient pass gives
        // pi_prox itself, so it skips a forward pass (quick profile: 0.74 s a step against
        // 1.03-1.14 s, with disease accuracy within the spread of the runs with dropout).
        config.rlLoraDropout = 0
        switch name {
        case "smoke":
            break
        case "quick":
            config.dataScale = "default"
            // Narrow: about a third of nano's step time for nearly the same visual learning per
            // step, so the budget buys a base that names diagnoses and twice the RL steps.
            // Rotary positions and whole-name tokens: the narrow policy's best measured
            // recognition (below) and the only variant that learns any letter lookup.
            config.modelSize = "narrow-rotary"
            config.wholeNameTokens = true
            config.vocabSize = 1024
            // Two versions of staleness: the admission window then holds three steps of groups,
            // room for two workers' batches while the learner trains on a third. With a bound
            // of 1 (two steps) two workers each held one batch, both waited for the learner and
            // made 0.97 of one worker's groups a minute; with 2 they made 1.07 of it (320.3
            // against 298.4 on two cores, the learner waiting 1.5% against 20%). Later versions
            // made both faster (README, scaling).
            config.stalenessBound = 2
            // 1,600 steps of this base made the Skin-R1 arm take 1,161 s, too close to the
            // profile's 20 minutes; 1,400 leaves a margin.
            config.pretrainSteps = 1400
            // Eight in ten base batches are naming questions about train-split and textbook images
            // (VisualCorpus.naming), asked as the disease questions are, but naming each label's
            // top-level family ("Benign melanocytic lesion" for a dermal nevus), and one in ten
            // are drills: a case's own disease question with a reasoning given that concludes one
            // of its options, of which the judgement and the letter are learned. So the base
            // describes images, tells the six families apart, knows the diagnoses' names and
            // answers with the letter of the option its reasoning concluded, as a general-purpose
            // model would; which diagnosis an image shows is left to the textbook's trajectories
            // (SFT) and to RL. A base that names the labels themselves (nine in ten batches;
            // disease accuracy 0.642, and 0.300 / 0.528 with shares of 0.6 / 0.8) already knows
            // everything the trajectories teach: every SFT measured on it lowered it (0.414-0.611,
            // one sft-only run each, whatever the rate, epochs, replay or part of the corpus).
            config.pretrainNamingShare = 0.8
            config.pretrainNamingDepth = 1
            config.pretrainLookupShare = 0.1
            config.pretrainDrillFormat = .judged
            // Their reasoning judges every option after its conclusion, so that the letter
            // follows it: in `skinr1 bench lookup --format disease --label-conclusion` the
            // letter of a learned conclusion stays at chance without the judgement (0.23 at
            // 1,000 steps) and reaches 0.395 with it.
            config.pretrainNamingFormat = .judged
            // The decoder learns at 3e-3; 3e-3 stalls the vision blocks (skinr1 bench vision:
            // held-out colour accuracy stays at the majority class; 3e-4 reaches 0.75), so they
            // and the connector move by a tenth of it. One sft-only run each at 1,600 steps: the
            // base names the right diagnosis in 0.453 of its disease answers, against 0.331 with
            // everything at 3e-4 and 0.222 for the narrow policy with plain naming questions.
            config.pretrainLearningRate = 3e-3
            config.pretrainImageRateShare = 0.1
            config.batchSize = 16
            // Rank 8 at 1e-3 for two epochs leaves the SFT loss falling at 2.3 nats and
            // in-distribution disease accuracy at 0.211; rank 32 at 2e-3 for three epochs
            // reaches 0.250 on the same base (one sft-only run each).
            config.loraRank = 32
            // SFT on that base (disease accuracy 0.211; it names the right diagnosis in 0.017 of
            // its answers), one sft-only run each: two epochs at 1e-3 without replay 0.286; with
            // one replayed drill or visual question per trajectory 0.264; three epochs at 2e-3
            // with one 0.253; four at 2e-3 without 0.267 (it names the diagnosis more often,
            // 0.256, but its letter follows its reasoning less often).
            config.sftEpochs = 2
            config.sftLearningRate = 1e-3
            config.sftReplayPerTrajectory = 0
            // Judged answers are about thirty tokens longer than unjudged ones, which made the
            // Skin-R1 arm take 1,261 s with 240 RL steps; 200 keep it under the profile's 20 minutes.
            config.rlSteps = 200
            config.rlLearningRate = 3e-4
            config.groupsPerStep = 4
            config.maxNewTokens = 96
            // At temperature 1 the small policy draws from the long tail of its distribution
            // often enough to garble most answers; min-p 0.1 keeps the draws near its own choices.
            config.samplingMinP = 0.1
            config.promptEpochs = 4
            config.checkpointEvery = 40
            config.evalEvery = 80
            config.evalItemsPerSuite = 60
        case "paper":
            config.dataScale = "large"
            config.modelSize = "nano"
            config.vocabSize = 1024
            config.pretrainSteps = 1500
            config.pretrainLearningRate = 3e-4
            config.batchSize = 16
            config.sftEpochs = 4
            config.sftLearningRate = 1e-3
            config.rlSteps = 1500
            config.rlLearningRate = 3e-4
            config.groupsPerStep = 16
            config.maxNewTokens = 96
            config.promptEpochs = 8
            config.checkpointEvery = 100
            config.evalEvery = 500
            config.evalItemsPerSuite = 0
        default:
            throw RunConfigError("unknown profile '\(name)': choose one of \(profiles.joined(separator: ", "))")
        }
        return config
    }
}

/// One part of the SFT corpus: the trajectories of one type, in their own answer format or
/// posed as a question (`TrajectorySynthesizer.posed`).
public struct SFTCorpusPart: Hashable, Sendable, CustomStringConvertible {
    public var type: TrajectoryType
    public var posed: Bool

    public init(type: TrajectoryType, posed: Bool) {
        self.type = type
        self.posed = posed
    }

    public static let all = Set(TrajectoryType.allCases.flatMap { [SFTCorpusPart(type: $0, posed: false), SFTCorpusPart(type: $0, posed: true)] })

    /// `direct`, `differential` or `revision`, followed by `-posed` for the posed form.
    public var description: String {
        let name = switch type {
        case .direct: "direct"
        case .differential: "differential"
        case .revision: "revision"
        }
        return name + (posed ? "-posed" : "")
    }

    /// The part a trajectory message belongs to: posed forms carry `Trajectory.posedSuffix`.
    public init?(_ message: SFTTrajectoryMessage) {
        guard let type = TrajectoryType(rawValue: message.type) else { return nil }
        self.init(type: type, posed: message.trajectoryID.hasSuffix(Trajectory.posedSuffix))
    }

    /// A comma list of part names (`direct,revision-posed`); nil: every part.
    public static func parse(_ list: String?) throws -> Set<SFTCorpusPart> {
        guard let list else { return all }
        let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.description, $0) })
        var parts = Set<SFTCorpusPart>()
        for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let part = byName[name] else {
                throw RunConfigError("sftTrajectoryParts: '\(name)' is not a part; known: \(byName.keys.sorted().joined(separator: ", "))")
            }
            parts.insert(part)
        }
        guard !parts.isEmpty else { throw RunConfigError("sftTrajectoryParts is empty: name at least one part") }
        return parts
    }
}

public struct RunConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension RunConfig {
    /// This configuration with knobs replaced from `NAME=VALUE` settings (the field names of
    /// `RunConfig`, e.g. `sftEpochs=3`, `trajectoryStyle=full`). Unknown names and values
    /// of the wrong kind are errors that name the setting.
    public func overriding(_ settings: [String]) throws -> RunConfig {
        guard !settings.isEmpty else { return self }
        let encoder = JSONEncoder()
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(self)) as? [String: Any] else {
            throw RunConfigError("run config does not encode as a JSON object")
        }
        var kinds: [String: Any] = [:]
        for child in Mirror(reflecting: self).children { if let label = child.label { kinds[label] = child.value } }
        for setting in settings {
            guard let equals = setting.firstIndex(of: "=") else {
                throw RunConfigError("setting '\(setting)' is not NAME=VALUE")
            }
            let name = String(setting[..<equals]).trimmingCharacters(in: .whitespaces)
            let text = String(setting[setting.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            guard let current = kinds[name] else {
                throw RunConfigError("setting '\(setting)': '\(name)' is not a run knob; known: \(kinds.keys.sorted().joined(separator: ", "))")
            }
            // By declared type: a nil optional matches `is T?` for every T, so `is` cannot tell.
            let kind = type(of: current)
            if kind == Bool.self || kind == Bool?.self {
                guard let value = Bool(text) else { throw RunConfigError("setting '\(setting)': \(name) takes true or false") }
                object[name] = value
            } else if kind == Int.self || kind == UInt64.self || kind == Int?.self {
                guard let value = Int64(text) else { throw RunConfigError("setting '\(setting)': \(name) takes a whole number") }
                object[name] = value
            } else if kind == Double.self || kind == Double?.self {
                guard let value = Double(text), value.isFinite else {
                    throw RunConfigError("setting '\(setting)': \(name) takes a number")
                }
                object[name] = value
            } else {
                object[name] = text
            }
        }
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            return try JSONDecoder().decode(RunConfig.self, from: data)
        } catch {
            throw RunConfigError("settings \(settings.joined(separator: " ")) do not make a valid run config: \(error)")
        }
    }
}
