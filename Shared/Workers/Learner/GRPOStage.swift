import Backoff
import Domain
import Foundation
import Logging
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import Store
import Training

/// GRPO on scored groups (METHOD.md 6.2 and 6.3): a fresh LoRA on the current base, one
/// update per step over `groupsPerStep` usable groups, a new version after every step, and
/// checkpoints that hold the adapter, the optimizer, the RNG and the Kafka offsets whose
/// groups the weights include, all in one transaction. Offsets are committed to Kafka only
/// after their checkpoint, so a restart resumes exactly there: no group applied twice, none lost.
struct GRPOStage: Sendable {
    let worker: LearnerWorker
    let base: PolicyModel
    let tokenizer: BPETokenizer
    let baseSHA: String
    let versionBeforeRL: Int
    let publisher: VersionPublisher

    struct Outcome: Sendable {
        var steps: [RLStepReport]
        var resumedFrom: Int?
        /// nil when the stage stopped before its last step.
        var finalVersion: Int?
    }

    /// Everything a step changes, owned by the stage's loop.
    final class State: @unchecked Sendable {
        // @unchecked: touched only by the stage's one task; the model work it hands to the
        // executor captures the models and optimizer, never this object.
        let policy: PolicyModel
        let reference: PolicyModel
        let adapter: LoRAAdapter
        let optimizer: AdamW
        let baseSHA: String
        let images: ImageCache
        /// The stored adapter of `version` (what a checkpoint at this step refers to).
        var adapterSHA: String
        var rng: SplitMix64
        var step: Int
        var version: Int
        /// Next offset per partition of every message handled by the steps done so far.
        var offsets: [KafkaTopicPartition: Int64]
        var usedIDs: Set<String>
        /// Read from the topic, not handled yet (kept for the next step).
        var backlog: [KafkaConsumerMessage] = []
        var lastCheckpointStep: Int

        init(policy: PolicyModel, reference: PolicyModel, adapter: LoRAAdapter, optimizer: AdamW, baseSHA: String,
             images: ImageCache, adapterSHA: String, rng: SplitMix64, step: Int, version: Int,
             offsets: [KafkaTopicPartition: Int64], usedIDs: Set<String>) {
            self.policy = policy; self.reference = reference; self.adapter = adapter; self.optimizer = optimizer
            self.baseSHA = baseSHA; self.images = images; self.adapterSHA = adapterSHA; self.rng = rng
            self.step = step; self.version = version; self.offsets = offsets
            self.usedIDs = usedIDs; self.lastCheckpointStep = step
        }
    }

    func run() async throws -> Outcome {
        let consumer = try KafkaConsumer(
            configuration: worker.kafka,
            consumer: worker.consumerConfiguration(role: "learner-rl"),
            topics: [TopicName.rlScored], logger: worker.logger)
        do {
            let outcome = try await loop(consumer: consumer)
            await consumer.close()
            return outcome
        } catch {
            await consumer.close()
            throw error
        }
    }

    // MARK: start or resume

    private func start(consumer: KafkaConsumer) async throws -> (State, resumedFrom: Int?) {
        let config = worker.run.config
        var lora = LearnerModelShape.lora(config)
        lora.dropout = Float(config.rlDropout)
        if let checkpoint = try await worker.store.latestCheckpoint(stage: "rl") {
            guard let adapterSHA = checkpoint.adapterSHA, let optimizerSHA = checkpoint.optimizerSHA else {
                throw LearnerError("GRPO checkpoint at step \(checkpoint.step) of run \(worker.run.id) lacks its adapter or optimizer blob")
            }
            let (policy, _) = try await worker.artifacts.loadBase(checkpoint.baseSHA)
            let reference = try await worker.executor.run { try policy.clone() }
            let adapter = try await worker.artifacts.loadAdapter(adapterSHA)
            try await worker.executor.run { try policy.attach(adapter) }
            let optimizer = AdamW(layout: adapter.layout)
            try await worker.artifacts.restoreOptimizer(optimizer, from: optimizerSHA)
            for position in checkpoint.offsets {
                try await consumer.seek(topic: position.topic, partition: position.partition, offset: position.offset)
            }
            let used = try await worker.store.groupsUsed(throughStep: checkpoint.step)
            var offsets: [KafkaTopicPartition: Int64] = [:]
            for p in checkpoint.offsets { offsets[p.topicPartition] = p.offset }
            worker.logger.info("GRPO resumed from checkpoint", metadata: [
                "step": "\(checkpoint.step)", "version": "\(checkpoint.version)",
                "offsets": "\(checkpoint.offsets.map(\.description).joined(separator: ","))",
            ])
            let state = State(policy: policy, reference: reference, adapter: adapter, optimizer: optimizer,
                              baseSHA: checkpoint.baseSHA, images: imageCache(policy), adapterSHA: adapterSHA,
                              rng: SplitMix64(seed: checkpoint.rngState),
                              step: checkpoint.step, version: checkpoint.version, offsets: offsets, usedIDs: used)
            return (state, checkpoint.step)
        }
        // A fresh adapter on the current base; the base without adapter is the reference.
        let policy = base
        let reference = try await worker.executor.run { try policy.clone() }
        let adapter = try LoRAAdapter(modelConfig: policy.config, config: lora, seed: config.seed ^ 0x0091_7E)
        try await worker.executor.run { try policy.attach(adapter) }
        let adapterSHA = try await worker.artifacts.storeAdapter(adapter)
        let state = State(policy: policy, reference: reference, adapter: adapter, optimizer: AdamW(layout: adapter.layout),
                          baseSHA: baseSHA, images: imageCache(policy), adapterSHA: adapterSHA,
                          rng: SplitMix64(seed: config.seed, stream: "grpo"), step: 0,
                          version: versionBeforeRL + 1, offsets: [:], usedIDs: [])
        try await publisher.publish(version: state.version, step: 0, stage: .rl, baseSHA: baseSHA, adapterSHA: adapterSHA, rlStep: 0)
        try await worker.run.mark(.rlStarted, detail: ["version": state.version], on: worker.client)
        try await checkpoint(state, consumer: consumer)
        return (state, nil)
    }

    private func imageCache(_ model: PolicyModel) -> ImageCache {
        ImageCache(blobs: BlobStore(client: worker.client), side: model.config.imageSize)
    }

    // MARK: the loop

    private func loop(consumer: KafkaConsumer) async throws -> Outcome {
        let config = worker.run.config
        let (state, resumedFrom) = try await start(consumer: consumer)
        var reports: [RLStepReport] = []
        while state.step < config.rlSteps {
            if let halt = worker.options.haltAfterRLSteps, reports.count >= halt {
                worker.logger.warning("halting as configured, without a final checkpoint", metadata: ["step": "\(state.step)"])
                return Outcome(steps: reports, resumedFrom: resumedFrom, finalVersion: nil)
            }
            let started = ContinuousClock.now
            guard let gathered = try await gather(state, consumer: consumer) else {
                // Shutdown while gathering: the half-gathered step is abandoned (its messages
                // are neither applied nor committed); keep what the finished steps did.
                if state.step > state.lastCheckpointStep { try await checkpoint(state, consumer: consumer) }
                return Outcome(steps: reports, resumedFrom: resumedFrom, finalVersion: nil)
            }
            let report = try await apply(gathered, state: state, started: started)
            reports.append(report)
            if state.step % config.checkpointEvery == 0 || state.step == config.rlSteps || LearnerWorker.stopping {
                try await checkpoint(state, consumer: consumer)
            }
            if LearnerWorker.stopping && state.step < config.rlSteps {
                return Outcome(steps: reports, resumedFrom: resumedFrom, finalVersion: nil)
            }
        }
        if state.step > state.lastCheckpointStep { try await checkpoint(state, consumer: consumer) }
        return Outcome(steps: reports, resumedFrom: resumedFrom, finalVersion: state.version)
    }

    /// What one step takes from the topic.
    struct Gathered: Sendable {
        var groups: [(message: ScoredGroupMessage, lag: Int)]
        var stale: [(group: RolloutGroupMessage, lag: Int)]
        var zeroVarianceSkipped: [(group: RolloutGroupMessage, lag: Int)]
        var zeroVarianceGroups: Int
        var handled: [KafkaConsumerMessage]
        var waited: Duration
    }

    /// Reads until `groupsPerStep` usable groups are in hand; nil on shutdown. Groups lagging
    /// more than eta are dropped, zero-variance groups counted (and skipped when configured),
    /// other runs' messages and groups already applied are passed over.
    private func gather(_ state: State, consumer: KafkaConsumer) async throws -> Gathered? {
        let config = worker.run.config, logger = worker.logger
        let bound = StalenessBound(eta: config.stalenessBound)
        var g = Gathered(groups: [], stale: [], zeroVarianceSkipped: [], zeroVarianceGroups: 0, handled: [], waited: .zero)
        var seen = Set<String>()
        var backlog = state.backlog
        defer { state.backlog = backlog }
        while g.groups.count < config.groupsPerStep {
            if backlog.isEmpty {
                if LearnerWorker.stopping {
                    backlog = g.handled + backlog   // nothing of this step was applied
                    return nil
                }
                let t0 = ContinuousClock.now
                guard let batch = try await consumer.nextBatch(maxCount: 64, maxWait: worker.options.pollWait) else {
                    throw LearnerError("the scored-group consumer closed while gathering step \(state.step + 1)")
                }
                g.waited += ContinuousClock.now - t0
                backlog += batch
                continue
            }
            let message = backlog.removeFirst()
            g.handled.append(message)
            let value: ScoredGroupMessage
            do {
                value = try PipelineTopics.scored.decode(message.value)
            } catch {
                logger.warning("undecodable scored group sent to the dead-letter topic", metadata: [
                    "partition": "\(message.partition)", "offset": "\(message.offset)", "error": "\(error)"])
                _ = try await DeadLetterPublisher(producer: publisher.producer, logger: logger).publish(message, error: error)
                worker.counters?.add("rl.dead_letters")
                continue
            }
            let rollout = value.rollout
            guard rollout.prompt.runID == worker.run.id else { continue }
            guard !state.usedIDs.contains(rollout.groupID), seen.insert(rollout.groupID).inserted else {
                worker.counters?.add("rl.duplicate_groups")
                continue
            }
            if let problem = Self.problem(with: value, model: state.policy.config) {
                logger.warning("unusable scored group sent to the dead-letter topic",
                               metadata: ["group": "\(rollout.groupID)", "error": "\(problem)"])
                _ = try await DeadLetterPublisher(producer: publisher.producer, logger: logger)
                    .publish(message, error: LearnerError("group \(rollout.groupID): \(problem)"))
                worker.counters?.add("rl.dead_letters")
                continue
            }
            let lag = bound.lag(groupVersion: rollout.policyVersion, learnerVersion: state.version)
            guard bound.admits(groupVersion: rollout.policyVersion, learnerVersion: state.version) else {
                g.stale.append((rollout, lag))
                worker.counters?.add("rl.dropped_stale")
                continue
            }
            let totals = value.rewards.map(\.total)
            if let first = totals.first, totals.allSatisfy({ $0 == first }) {
                g.zeroVarianceGroups += 1
                if config.skipZeroVariance {
                    g.zeroVarianceSkipped.append((rollout, lag))
                    continue
                }
            }
            g.groups.append((value, lag))
        }
        return g
    }

    /// Why a scored group cannot be trained on (it would fail the step every time it is
    /// read again), or nil when it can.
    static func problem(with scored: ScoredGroupMessage, model: ModelConfig) -> String? {
        let rollout = scored.rollout
        guard !rollout.answers.isEmpty else { return "no answers" }
        guard scored.advantages.count == rollout.answers.count, scored.rewards.count == rollout.answers.count else {
            return "\(rollout.answers.count) answers but \(scored.rewards.count) rewards and \(scored.advantages.count) advantages"
        }
        guard scored.advantages.allSatisfy(\.isFinite) else { return "a non-finite advantage" }
        guard !rollout.promptTokens.isEmpty, rollout.promptTokens.count < model.textCapacity else {
            return "prompt of \(rollout.promptTokens.count) tokens does not fit \(model.textCapacity) text positions"
        }
        let vocab = Int32(model.vocabSize)
        let inVocabulary: (Int32) -> Bool = { $0 >= 0 && $0 < vocab }
        guard rollout.promptTokens.allSatisfy(inVocabulary) else { return "a prompt token outside the vocabulary of \(vocab)" }
        for (j, answer) in rollout.answers.enumerated() {
            guard answer.tokens.allSatisfy(inVocabulary) else { return "answer \(j) has a token outside the vocabulary of \(vocab)" }
            guard answer.tokens.count == answer.behaviourLogProbs.count else {
                return "answer \(j) has \(answer.tokens.count) tokens but \(answer.behaviourLogProbs.count) behaviour log-probabilities"
            }
            guard answer.behaviourLogProbs.allSatisfy({ $0.isFinite && $0 <= 0 }) else {
                return "answer \(j) has a behaviour log-probability that is not a finite value <= 0"
            }
        }
        return nil
    }

    // MARK: one step

    private func apply(_ g: Gathered, state: State, started: ContinuousClock.Instant) async throws -> RLStepReport {
        let config = worker.run.config
        let modelConfig = state.policy.config
        let images = state.images
        // One row per answer: image, prompt + answer tokens, where the answer starts.
        var rows: [GRPOBatchRow] = []
        for (scored, _) in g.groups {
            let rollout = scored.rollout
            let pixels = try await images.tensor(rollout.prompt.item.imageSHA)
            guard scored.advantages.count == rollout.answers.count else {
                throw LearnerError("scored group \(rollout.groupID): \(scored.advantages.count) advantages for \(rollout.answers.count) answers")
            }
            let sameReference = rollout.referenceSHA == state.baseSHA
            for (answer, advantage) in zip(rollout.answers, scored.advantages) {
                rows.append(try GRPOBatchRow(image: pixels, prompt: rollout.promptTokens, answer: answer,
                                             advantage: advantage, capacity: modelConfig.textCapacity,
                                             groupID: rollout.groupID, referenceFromWorker: sameReference))
            }
        }
        let settings = GRPOSettings(
            objective: try parse(StaleSampleObjective.self, config.objective, "objective"),
            aggregation: try parse(LossAggregation.self, config.aggregation, "aggregation"),
            clipEpsilon: config.clipEpsilon, klBeta: config.klBeta, behaviourWeightCap: config.behaviourWeightCap)
        let schedule = LearningRateSchedule(maxLR: Float(config.rlLearningRate), minLR: Float(config.rlLearningRate) * 0.1,
                                            warmupSteps: max(1, config.rlSteps / 20), totalSteps: max(1, config.rlSteps))
        let lr = schedule.learningRate(at: state.step)
        let dropoutSeed: UInt64? = config.rlDropout > 0 ? state.rng.next() : nil
        let (policy, reference, optimizer) = (state.policy, state.reference, state.optimizer)
        let chunk = max(1, config.batchSize)
        let maxNorm = worker.options.maxGradNorm
        let frozenRows = rows
        let computeStart = ContinuousClock.now
        let adapter = state.adapter
        // The new adapter is encoded in the same job, so storing it needs no second hop to the
        // model thread; `compute.s` (and tokens a second) count the update alone.
        let (result, computeSeconds, adapterBytes) = try await worker.executor.run {
            let result = try GRPOUpdate.step(policy: policy, reference: reference, optimizer: optimizer, rows: frozenRows,
                                             settings: settings, chunk: chunk, dropoutSeed: dropoutSeed, learningRate: lr,
                                             maxNorm: maxNorm)
            let computed = (ContinuousClock.now - computeStart).seconds
            return (result, computed, [UInt8](try PolicyCheckpoint.encodeAdapter(adapter)))
        }
        let computeEnd = ContinuousClock.now

        // The new version: adapter blob, policy_versions, step row and group marks together.
        let learnerVersionBefore = state.version
        state.step += 1
        state.version += 1
        for (scored, _) in g.groups { state.usedIDs.insert(scored.rollout.groupID) }
        for message in g.handled {
            state.offsets[message.topicPartition] = max(state.offsets[message.topicPartition] ?? 0, message.offset + 1)
        }
        let rewards = g.groups.flatMap(\.message.rewards)
        let advantages = g.groups.flatMap(\.message.advantages)
        let lags = LagSummary(g.groups.map(\.lag))
        let wall = (ContinuousClock.now - started).seconds
        let metrics = LearnerStepMetrics(
            stage: "rl", step: state.step, version: state.version, loss: result.loss, kl: result.statistics.klMean,
            clipFraction: result.statistics.clipFraction, rewardMean: mean(rewards.map(\.total)),
            rewardStd: std(rewards.map(\.total)), formatMean: mean(rewards.map(\.format)),
            granularityMean: mean(rewards.map(\.granularity)), malignancyMean: mean(rewards.map(\.malignancy)),
            advantageStd: std(advantages), groups: g.groups.count, zeroVarianceGroups: g.zeroVarianceGroups,
            lagMin: lags?.min, lagMean: lags?.mean, lagMax: lags?.max, droppedStale: g.stale.count,
            truncatedWeightFraction: result.statistics.truncatedWeightFraction, gradNorm: Double(result.gradNorm),
            learningRate: Double(lr), tokensPerSecond: Double(result.tokens) / max(computeSeconds, 1e-9),
            waitFraction: min(1, g.waited.seconds / max(wall, 1e-9)))
        let store = worker.store
        let used = g.groups.map { (group: $0.message.rollout, lag: $0.lag) }
        // The adapter and its version in one transaction: one commit a step instead of two.
        let baseSHA = state.baseSHA
        let (versionMessage, adapterSHA) = try await worker.client.transaction { tx in
            let adapterSHA = try await PolicyArtifacts.storeAdapter(encoded: adapterBytes, on: tx)
            let versionMessage = publisher.message(version: metrics.version, step: metrics.step, stage: .rl, baseSHA: baseSHA,
                                                   adapterSHA: adapterSHA, rlStep: metrics.step)
            try await store.insertVersion(versionMessage, on: tx)
            try await store.insertStep(metrics, on: tx)
            try await store.markUsed(used, step: metrics.step, on: tx)
            try await AdmissionTickets.giveBackDropped((g.stale + g.zeroVarianceSkipped).map(\.group), runID: store.runID, on: tx)
            try await store.markDropped(g.stale, reason: "stale", on: tx)
            try await store.markDropped(g.zeroVarianceSkipped, reason: "zero_variance", on: tx)
            return (versionMessage, adapterSHA)
        }
        state.adapterSHA = adapterSHA
        try await publisher.send(versionMessage)
        let persistSeconds = (ContinuousClock.now - computeEnd).seconds
        worker.counters?.add("rl.steps")
        worker.counters?.add("rl.groups", Int64(g.groups.count))
        worker.counters?.add("rl.reference_from_workers", Int64(result.referenceFromWorkers))
        worker.logger.info("GRPO step", metadata: [
            "step": "\(state.step)", "version": "\(state.version)", "loss": "\(result.loss)",
            "reward.mean": "\(metrics.rewardMean ?? 0)", "kl": "\(result.statistics.klMean)",
            "lag.max": "\(lags?.max ?? 0)", "dropped.stale": "\(g.stale.count)", "from.version": "\(learnerVersionBefore)",
            "adapter.sha": "\(adapterSHA.prefix(12))", "wait.fraction": "\(metrics.waitFraction)",
            "prepare.s": "\((computeStart - started - g.waited).seconds)",
            "compute.s": "\(computeSeconds)", "persist.s": "\(persistSeconds)", "reference.from_workers": "\(result.referenceFromWorkers)/\(rows.count)",
        ])
        return RLStepReport(step: state.step, version: state.version, groupIDs: used.map(\.group.groupID),
                            droppedStale: g.stale.map(\.group.groupID), metrics: metrics,
                            seconds: (ContinuousClock.now - started).seconds)
    }

    /// Checkpoint in one transaction, then (only then) the Kafka commit of its offsets. The
    /// adapter is the one stored with the current version.
    private func checkpoint(_ state: State, consumer: KafkaConsumer) async throws {
        let optimizer = state.optimizer
        let optimizerBytes = try await worker.executor.run { [UInt8](try PolicyCheckpoint.encodeOptimizer(optimizer)) }
        let positions = state.offsets.map {
            KafkaTopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value)
        }
        try await worker.store.writeCheckpoint(
            step: state.step, stage: "rl", version: state.version, baseSHA: state.baseSHA, referenceSHA: state.baseSHA,
            adapterSHA: state.adapterSHA, optimizerBytes: optimizerBytes, rngState: state.rng.state, offsets: positions,
            incarnation: worker.options.incarnation)
        state.lastCheckpointStep = state.step
        if !positions.isEmpty { try await consumer.commit(offsets: positions) }
        worker.counters?.add("rl.checkpoints")
    }

    private func parse<T: RawRepresentable>(_ type: T.Type, _ raw: String, _ field: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: raw) else {
            throw LearnerError("run config \(field) '\(raw)' is not recognised")
        }
        return value
    }
}

func mean(_ xs: [Double]) -> Double? {
    xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count)
}

func std(_ xs: [Double]) -> Double? {
    guard let m = mean(xs) else { return nil }
    return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count)).squareRoot()
}
