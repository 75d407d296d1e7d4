import Domain
import Foundation
import Logging
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import ServiceLifecycle
import ServiceRuntime
import Store
import Training

/// Process-local settings of the learner (training knobs come from the run's `RunConfig`).
public struct LearnerOptions: Sendable {
    /// New per process start; goes into every published version and checkpoint.
    public var incarnation: String
    /// Longest wait of one poll of a topic, so that shutdown is noticed promptly.
    public var pollWait: Duration
    /// Texts the tokenizer learns from at most (evenly sampled).
    public var maxTokenizerTexts: Int
    /// Case images the base pretraining corpus is built from at most.
    public var maxVisualCases: Int
    /// Global gradient-norm clip of every stage.
    public var maxGradNorm: Float
    /// Session timeout of the learner's consumer-group memberships: how long the broker
    /// waits for a vanished learner before handing its partitions to the next one.
    public var sessionTimeout: Duration
    /// For tests and drills: stop after this many GRPO steps of this process, as a crash
    /// would (no final checkpoint, no offset commit beyond the last checkpoint).
    public var haltAfterRLSteps: Int?
    /// Threads of the numeric code during GRPO (nil: as set for the earlier stages). The
    /// rollout workers and the evaluator run beside GRPO; on a machine they share, the
    /// learner's own threads mostly wait for each other.
    public var rlThreads: Int?

    public init(incarnation: String = "learner-" + UUID().uuidString.lowercased().prefix(8),
                pollWait: Duration = .milliseconds(200), rlThreads: Int? = nil, maxTokenizerTexts: Int = 4000, maxVisualCases: Int = 1500,
                maxGradNorm: Float = 1.0, sessionTimeout: Duration = GroupMembership.sessionTimeout, haltAfterRLSteps: Int? = nil) {
        self.sessionTimeout = sessionTimeout
        self.incarnation = incarnation
        self.pollWait = pollWait
        self.rlThreads = rlThreads
        self.maxTokenizerTexts = maxTokenizerTexts
        self.maxVisualCases = maxVisualCases
        self.maxGradNorm = maxGradNorm
        self.haltAfterRLSteps = haltAfterRLSteps
    }
}

/// What one learner process did.
public struct LearnerSummary: Sendable {
    public var baseSHA: String
    public var baseReused: Bool
    public var pretrainLosses: [Double]
    public var appearanceSource: String?
    public var sftLosses: [Double]
    public var rlSteps: [RLStepReport]
    /// The GRPO checkpoint step this process resumed from (nil: it started the stage or skipped it).
    public var resumedFromStep: Int?
    /// The run's final version when training finished in this process or before; nil when stopped early.
    public var finalVersion: Int?
    public var stoppedEarly: Bool
}

/// One GRPO step as this process ran it.
public struct RLStepReport: Sendable, Equatable {
    public var step: Int
    public var version: Int
    public var groupIDs: [String]
    public var droppedStale: [String]
    public var metrics: LearnerStepMetrics
    public var seconds: Double
}

/// The learner service's work (METHOD.md 6; pipeline contract step 2): tokenizer and base,
/// SFT on the run's trajectories, GRPO on scored groups with checkpoints that carry the
/// Kafka offsets their weights include.
public final class LearnerWorker: Sendable {
    let run: RunRecord
    let client: PostgresClient
    let kafka: KafkaConfiguration
    let options: LearnerOptions
    let logger: Logger
    let counters: ServiceCounters?
    let store: LearnerStore
    let artifacts: PolicyArtifacts
    let executor = ModelExecutor(label: "learner")

    public init(run: RunRecord, client: PostgresClient, kafka: KafkaConfiguration, options: LearnerOptions,
                logger: Logger, counters: ServiceCounters? = nil) {
        self.run = run
        self.client = client
        self.kafka = kafka
        self.options = options
        var logger = logger
        logger[metadataKey: "learner.incarnation"] = "\(options.incarnation)"
        logger[metadataKey: "run.id"] = "\(run.id)"
        self.logger = logger
        self.counters = counters
        self.store = LearnerStore(client: client, runID: run.id)
        self.artifacts = PolicyArtifacts(blobs: BlobStore(client: client))
    }

    /// The consumer settings of one of the learner's groups.
    func consumerConfiguration(role: String) -> KafkaConsumerConfiguration {
        GroupMembership.consumer(groupID: "skinr1.\(run.id).\(role)", sessionTimeout: options.sessionTimeout)
    }

    /// Waits for a milestone of the run; nil when a graceful shutdown comes first.
    func awaitMilestone(_ milestone: Milestone) async throws -> [String: Int]? {
        while true {
            if let detail = try await run.milestone(milestone, on: client) { return detail }
            if Self.stopping { return nil }
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    static var stopping: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    /// Runs every stage of the run that is not done yet; returns when training is done,
    /// or earlier on graceful shutdown (`stoppedEarly`).
    public func run() async throws -> LearnerSummary {
        var summary = LearnerSummary(baseSHA: "", baseReused: false, pretrainLosses: [], appearanceSource: nil,
                                     sftLosses: [], rlSteps: [], resumedFromStep: nil, finalVersion: nil, stoppedEarly: false)
        if let done = try await run.milestone(.trainingDone, on: client) {
            logger.info("training already done", metadata: ["version": "\(done["version"] ?? -1)"])
            summary.finalVersion = done["version"]
            return summary
        }
        // The tokenizer corpus needs the stored trajectories, prompts and evaluation items.
        logger.info("waiting for the synthesised corpora")
        guard let trajectories = try await awaitMilestone(.trajectoriesPublished),
              try await awaitMilestone(.evalSuitesBuilt) != nil,
              try await awaitMilestone(.promptsPublished) != nil else {
            summary.stoppedEarly = true
            return summary
        }

        // A version is announced and its delivery awaited before the next step: nothing would
        // join it in a batch, so librdkafka's linger would only delay it.
        let producer = try KafkaProducer(configuration: kafka, producer: KafkaProducerConfiguration(linger: .zero), logger: logger)
        do {
            try await runStages(producer: producer, trajectories: trajectories["count"] ?? 0, summary: &summary)
        } catch {
            try? await producer.shutdown(timeout: .seconds(5))
            throw error
        }
        try await producer.shutdown(timeout: .seconds(10))
        return summary
    }

    private func runStages(producer: KafkaProducer, trajectories: Int, summary: inout LearnerSummary) async throws {
        let config = run.config
        let publisher = VersionPublisher(runID: run.id, store: store, producer: producer, incarnation: options.incarnation,
                                         window: AdmissionWindow(bound: StalenessBound(eta: config.stalenessBound),
                                                                 groupsPerStep: config.groupsPerStep))

        // Base (version 0).
        var model: PolicyModel
        var tokenizer: BPETokenizer
        var baseSHA: String
        if try await run.milestone(.baseReady, on: client) != nil, let sha = try await store.baseSHA(ofVersion: 0) {
            (model, tokenizer) = try await artifacts.loadBase(sha)
            baseSHA = sha
        } else {
            try await run.setStage("base", on: client)
            let builder = BaseModelBuilder(run: run, client: client, store: store, artifacts: artifacts,
                                           executor: executor, options: options, logger: logger)
            guard let base = try await builder.build() else {
                summary.stoppedEarly = true
                return
            }
            (model, tokenizer, baseSHA) = (base.model, base.tokenizer, base.sha)
            summary.baseReused = base.reused
            summary.pretrainLosses = base.pretrainLosses
            summary.appearanceSource = base.appearanceSource?.rawValue
            try await publisher.publish(version: 0, step: 0, stage: .base, baseSHA: baseSHA, adapterSHA: nil, rlStep: 0)
            try await run.mark(.baseReady, detail: ["version": 0], on: client)
        }
        summary.baseSHA = baseSHA
        var version = 0

        // SFT (version 1).
        if config.arm.runsSFT {
            if try await run.milestone(.sftDone, on: client) != nil, let sha = try await store.baseSHA(ofVersion: 1) {
                (model, tokenizer) = try await artifacts.loadBase(sha)
                baseSHA = sha
            } else {
                try await run.setStage("sft", on: client)
                let sft = SFTStage(worker: self, model: model, tokenizer: tokenizer, baseSHA: baseSHA)
                guard let outcome = try await sft.run(expected: trajectories, publisher: publisher) else {
                    summary.stoppedEarly = true
                    return
                }
                summary.sftLosses = outcome.losses
                baseSHA = outcome.mergedSHA
            }
            version = 1
        }

        // GRPO.
        if config.arm.runsRL {
            if let done = try await run.milestone(.rlDone, on: client) {
                version = done["version"] ?? version
            } else {
                try await run.setStage("rl", on: client)
                if let threads = options.rlThreads {
                    NeuralNetThreads.setThreads(threads)
                    logger.info("GRPO runs on \(threads) thread\(threads == 1 ? "" : "s") of numeric code")
                }
                let grpo = GRPOStage(worker: self, base: model, tokenizer: tokenizer, baseSHA: baseSHA,
                                     versionBeforeRL: version, publisher: publisher)
                let outcome = try await grpo.run()
                summary.rlSteps = outcome.steps
                summary.resumedFromStep = outcome.resumedFrom
                guard let finalVersion = outcome.finalVersion else {
                    summary.stoppedEarly = true
                    return
                }
                version = finalVersion
                try await run.mark(.rlDone, detail: ["version": version], on: client)
            }
        }
        try await run.mark(.trainingDone, detail: ["version": version], on: client)
        try await run.setStage("trained", on: client)
        logger.info("training done", metadata: ["version": "\(version)"])
        summary.finalVersion = version
    }
}

/// Publishes policy versions: a `policy_versions` row, then the message on `skinr1.policy.versions`.
struct VersionPublisher: Sendable {
    let runID: String
    let store: LearnerStore
    let producer: KafkaProducer
    let incarnation: String
    let window: AdmissionWindow

    func message(version: Int, step: Int, stage: PolicyVersionMessage.Stage, baseSHA: String, adapterSHA: String?,
                 rlStep: Int) -> PolicyVersionMessage {
        PolicyVersionMessage(runID: runID, version: version, step: step, stage: stage, baseSHA: baseSHA,
                             adapterSHA: adapterSHA, learnerIncarnation: incarnation,
                             admissionCapacity: window.capacity(learnerVersion: rlStep), publishedAt: Date())
    }

    func publish(version: Int, step: Int, stage: PolicyVersionMessage.Stage, baseSHA: String, adapterSHA: String?,
                 rlStep: Int) async throws {
        let m = message(version: version, step: step, stage: stage, baseSHA: baseSHA, adapterSHA: adapterSHA, rlStep: rlStep)
        try await store.insertVersion(m)
        try await send(m)
    }

    func send(_ m: PolicyVersionMessage) async throws {
        _ = try await producer.send(PipelineTopics.policyVersions, key: runID, value: m)
    }
}
