import Domain
import Foundation
import Messaging

/// The values that travel on the product's topics (ARCHITECTURE.md, "Kafka topics").
/// Images and weights never travel: messages carry their sha256 and the store holds the bytes.

/// One SFT trajectory (METHOD.md 3.3), keyed by trajectory id.
public struct SFTTrajectoryMessage: Codable, Sendable, Equatable {
    public var trajectoryID: String
    public var corpus: String
    /// 1 direct, 2 differential, 3 reflective revision.
    public var type: Int
    public var imageSHA: String
    public var prompt: String
    public var target: String
    public var finalDiagnosis: NodeID

    public init(trajectoryID: String, corpus: String, type: Int, imageSHA: String, prompt: String, target: String,
                finalDiagnosis: NodeID) {
        self.trajectoryID = trajectoryID
        self.corpus = corpus
        self.type = type
        self.imageSHA = imageSHA
        self.prompt = prompt
        self.target = target
        self.finalDiagnosis = finalDiagnosis
    }
}

/// One RL prompt: a multiple-choice item with per-option granularity rewards, keyed by prompt id.
public struct RLPromptMessage: Codable, Sendable, Equatable {
    public var promptID: String
    public var runID: String
    public var epoch: Int
    public var item: QuestionItem

    public init(promptID: String, runID: String, epoch: Int, item: QuestionItem) {
        self.promptID = promptID
        self.runID = runID
        self.epoch = epoch
        self.item = item
    }
}

/// One sampled answer with what the learner needs to correct for staleness.
public struct RolloutAnswer: Codable, Sendable, Equatable {
    public var tokens: [Int32]
    public var text: String
    /// log mu(y_t): the sampling policy's log-probabilities of the sampled tokens (temperature 1).
    public var behaviourLogProbs: [Float]
    /// Whether the answer ended with end-of-sequence (false: cut at the length limit).
    public var finished: Bool
    /// log pi_ref(y_t) of the sampled tokens under the base named by the group's
    /// `referenceSHA`, when the worker computed them (`RunConfig.referenceOnWorkers`).
    public var referenceLogProbs: [Float]?

    public init(tokens: [Int32], text: String, behaviourLogProbs: [Float], finished: Bool,
                referenceLogProbs: [Float]? = nil) {
        self.tokens = tokens
        self.text = text
        self.behaviourLogProbs = behaviourLogProbs
        self.finished = finished
        self.referenceLogProbs = referenceLogProbs
    }
}

/// K answers to one prompt from one policy version, keyed by group id.
public struct RolloutGroupMessage: Codable, Sendable, Equatable {
    public var groupID: String
    public var prompt: RLPromptMessage
    public var promptTokens: [Int32]
    public var answers: [RolloutAnswer]
    public var policyVersion: Int
    public var learnerIncarnation: String
    /// sha256 of the adapter the worker sampled with (nil: the base alone).
    public var adapterSHA: String?
    /// sha256 of the base (the GRPO reference) the answers' `referenceLogProbs` come from;
    /// nil when the worker did not compute them.
    public var referenceSHA: String?
    public var workerID: String
    /// The admission ticket this group was sampled under.
    public var ticket: Int
    public var sampledAt: Date
    public var sampleMilliseconds: Double

    public init(groupID: String, prompt: RLPromptMessage, promptTokens: [Int32], answers: [RolloutAnswer],
                policyVersion: Int, learnerIncarnation: String, adapterSHA: String?, referenceSHA: String? = nil,
                workerID: String, ticket: Int, sampledAt: Date, sampleMilliseconds: Double) {
        self.groupID = groupID
        self.prompt = prompt
        self.promptTokens = promptTokens
        self.answers = answers
        self.policyVersion = policyVersion
        self.learnerIncarnation = learnerIncarnation
        self.adapterSHA = adapterSHA
        self.referenceSHA = referenceSHA
        self.workerID = workerID
        self.ticket = ticket
        self.sampledAt = sampledAt
        self.sampleMilliseconds = sampleMilliseconds
    }
}

/// A rollout group with its rewards (METHOD.md 5) and group advantages (6.2), keyed by group id.
public struct ScoredGroupMessage: Codable, Sendable, Equatable {
    public var rollout: RolloutGroupMessage
    public var rewards: [RewardBreakdown]
    public var advantages: [Double]
    public var scorerID: String

    public init(rollout: RolloutGroupMessage, rewards: [RewardBreakdown], advantages: [Double], scorerID: String) {
        self.rollout = rollout
        self.rewards = rewards
        self.advantages = advantages
        self.scorerID = scorerID
    }
}

/// A policy the learner published, keyed by run id.
public struct PolicyVersionMessage: Codable, Sendable, Equatable {
    public enum Stage: String, Codable, Sendable { case base, sft, rl }
    public var runID: String
    public var version: Int
    public var step: Int
    public var stage: Stage
    public var baseSHA: String
    public var adapterSHA: String?
    public var learnerIncarnation: String
    /// Groups that may have been admitted in total while this version is current.
    public var admissionCapacity: Int
    public var publishedAt: Date

    public init(runID: String, version: Int, step: Int, stage: Stage, baseSHA: String, adapterSHA: String?,
                learnerIncarnation: String, admissionCapacity: Int, publishedAt: Date) {
        self.runID = runID
        self.version = version
        self.step = step
        self.stage = stage
        self.baseSHA = baseSHA
        self.adapterSHA = adapterSHA
        self.learnerIncarnation = learnerIncarnation
        self.admissionCapacity = admissionCapacity
        self.publishedAt = publishedAt
    }
}

/// The product's typed topics, one place for names, schemas and versions.
public enum PipelineTopics {
    public static let trajectories = Topic<SFTTrajectoryMessage>(TopicName.sftTrajectories, schema: "skinr1.sft.trajectory", version: 1)
    public static let prompts = Topic<RLPromptMessage>(TopicName.rlPrompts, schema: "skinr1.rl.prompt", version: 1)
    public static let rollouts = Topic<RolloutGroupMessage>(TopicName.rlRollouts, schema: "skinr1.rl.rollout-group", version: 1)
    public static let scored = Topic<ScoredGroupMessage>(TopicName.rlScored, schema: "skinr1.rl.scored-group", version: 1)
    public static let policyVersions = Topic<PolicyVersionMessage>(TopicName.policyVersions, schema: "skinr1.policy.version", version: 1)
}
