import Backoff
import Domain
import Foundation
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import Store

/// SFT on the run's trajectories (METHOD.md 6.1): LoRA on the base with the response-only
/// loss, then the adapter merged into the base. The merged model is the new base and the
/// GRPO reference; it is published as version 1.
struct SFTStage: Sendable {
    let worker: LearnerWorker
    let model: PolicyModel
    let tokenizer: BPETokenizer
    let baseSHA: String

    struct Outcome: Sendable {
        var losses: [Double]
        var mergedSHA: String
    }

    /// The batch's images with each of its first `trajectories` (the trajectories' own, not
    /// the replayed ones) in one of the square's eight symmetries (`PolicyImage.symmetry`),
    /// drawn anew every time a trajectory is seen, so that each exemplar shows its findings
    /// up to eight ways.
    static func inSymmetries(_ pixels: [Float], trajectories: Int, side: Int, rng: inout SplitMix64) -> [Float] {
        let size = side * side * 3
        var out = pixels
        for row in 0..<trajectories {
            let transform = Int(rng.next() % 8)
            guard transform != 0 else { continue }
            let range = (row * size)..<((row + 1) * size)
            out.replaceSubrange(range, with: PolicyImage.symmetry(transform, of: Array(pixels[range]), side: side))
        }
        return out
    }

    /// The base examples replayed beside a batch of `trajectories`: `RunConfig.sftReplayRatio`
    /// per trajectory, at least one unless the ratio is 0, drawn in the base's mix
    /// (`BaseModelBuilder.batch`). The base's own questions keep the
    /// answer formats, the visual grounding and the letter lookup that SFT on the trajectories
    /// alone wears away in a small policy.
    static func replayCount(trajectories: Int, ratio: Double) -> Int {
        ratio > 0 ? max(1, Int((Double(trajectories) * ratio).rounded())) : 0
    }

    /// What SFT replays of the base's corpus, and the shares of its kinds: the base's own mix,
    /// but naming questions that name a family instead of the label (`pretrainNamingDepth`)
    /// are left out, since the trajectories teach the diagnosis itself and the two would
    /// contradict each other over the same images; their share goes to the drills and the
    /// visual questions in proportion.
    static func replayMix(_ corpus: BaseCorpus, config: RunConfig) -> (corpus: BaseCorpus, naming: Double, lookup: Double) {
        guard config.pretrainNamingDepth != nil else { return (corpus, config.namingShare, config.lookupShare) }
        var kept = corpus
        kept.naming = []
        let rest = 1 - config.namingShare
        return (kept, 0, rest > 0 ? min(1, config.lookupShare / rest) : 0)
    }

    /// nil when a graceful shutdown interrupted the stage (nothing of it is committed).
    func run(expected: Int, publisher: VersionPublisher) async throws -> Outcome? {
        let logger = worker.logger
        let consumer = try KafkaConsumer(
            configuration: worker.kafka,
            consumer: worker.consumerConfiguration(role: "learner-sft"),
            topics: [TopicName.sftTrajectories], logger: logger)
        do {
            let outcome = try await train(consumer: consumer, expected: expected, publisher: publisher)
            await consumer.close()
            return outcome
        } catch {
            await consumer.close()
            throw error
        }
    }

    private func train(consumer: KafkaConsumer, expected: Int, publisher: VersionPublisher) async throws -> Outcome? {
        let run = worker.run, config = run.config, logger = worker.logger
        guard config.sftReplayRatio >= 0, config.sftReplayRatio.isFinite else {
            throw LearnerError("sftReplayPerTrajectory is \(config.sftReplayRatio): a number of replayed examples per trajectory is 0 or more")
        }
        let parts = try SFTCorpusPart.parse(config.sftTrajectoryParts)
        // Trajectories of this run (the topic is shared by runs; messages carry no run id).
        let own = Set(try await worker.client.query("SELECT id FROM trajectories WHERE run_id = \(run.id)")
            .map { try $0.decode("id", as: String.self) })
        var byID: [String: SFTTrajectoryMessage] = [:]
        var offsets: [KafkaTopicPartition: Int64] = [:]
        let waitStart = ContinuousClock.now
        while byID.count < expected {
            if LearnerWorker.stopping { return nil }
            guard let batch = try await consumer.nextBatch(maxCount: 256, maxWait: worker.options.pollWait) else {
                throw LearnerError("the trajectory consumer closed before \(expected) trajectories arrived (have \(byID.count))")
            }
            for message in batch {
                offsets[message.topicPartition] = max(offsets[message.topicPartition] ?? 0, message.offset + 1)
                let value: SFTTrajectoryMessage
                do {
                    value = try PipelineTopics.trajectories.decode(message.value)
                } catch {
                    logger.warning("undecodable trajectory sent to the dead-letter topic",
                                   metadata: ["partition": "\(message.partition)", "offset": "\(message.offset)"])
                    _ = try await DeadLetterPublisher(producer: publisher.producer, logger: logger).publish(message, error: error)
                    continue
                }
                guard own.isEmpty || own.contains(value.trajectoryID) else { continue }
                byID[value.trajectoryID] = value
            }
        }
        let waited = ContinuousClock.now - waitStart
        logger.info("trajectories received", metadata: ["count": "\(byID.count)", "wait.s": "\(waited.seconds)"])

        let modelConfig = model.config
        let codec = PromptCodec(tokenizer: tokenizer, config: modelConfig)
        let reserve = LearnerModelShape.reserve(config, modelConfig)
        let images = ImageCache(blobs: BlobStore(client: worker.client), side: modelConfig.imageSize)
        let adapter = try LoRAAdapter(modelConfig: modelConfig, config: LearnerModelShape.lora(config),
                                      seed: config.seed ^ 0x5F7)
        let model = self.model
        try await worker.executor.run { try model.attach(adapter) }
        let optimizer = AdamW(layout: adapter.layout)
        // Every trajectory is consumed (its offset is this stage's); only the chosen parts are trained on.
        let chosen = byID.keys.sorted().map { byID[$0]! }.filter { SFTCorpusPart($0).map(parts.contains) ?? false }
        if chosen.count < byID.count {
            logger.info("SFT trains on part of the trajectories", metadata: [
                "parts": "\(parts.map(\.description).sorted().joined(separator: ","))", "chosen": "\(chosen.count)",
                "received": "\(byID.count)"])
        }
        let items = chosen
            .map { VisualExample(imageSHA: $0.imageSHA, prompt: $0.prompt, answer: $0.target) }
        // The base's own examples, replayed alongside the trajectories in the base's own mix
        // (`replayMix`); read and built only when anything is replayed.
        var corpus = BaseCorpus(visual: [], naming: [], lookup: [])
        if config.sftReplayRatio > 0 {
            let knowledge = try KnowledgeBase.load()
            let (visualCases, _) = try await VisualCorpus.appearances(on: worker.client, knowledge: knowledge,
                                                                      limit: worker.options.maxVisualCases)
            corpus = VisualCorpus.corpus(for: visualCases, taxonomy: knowledge.taxonomy, graph: knowledge.graph,
                                         seed: config.seed, namingShare: config.namingShare, lookupShare: config.lookupShare,
                                         namingFormat: config.namingFormat, drillFormat: config.drillFormat,
                                         namingDepth: config.pretrainNamingDepth, variants: VisualCorpus.baseVariants)
        }
        let (replay, replayNaming, replayLookup) = Self.replayMix(corpus, config: config)
        var replayRNG = SplitMix64(seed: config.seed, stream: "sft-replay")
        var symmetryRNG = SplitMix64(seed: config.seed, stream: "sft-symmetry")
        // The trajectories' training sequences, encoded once for every epoch. A trajectory cut
        // to fit the context teaches reasoning that never reaches its answer.
        let sequences = items.map { codec.trainingSequence(prompt: $0.prompt, answer: $0.answer, reserve: reserve) }
        let cut = sequences.filter { $0.tokens.last != tokenizer.eos }
        // Answers longer than the RL and evaluation budget are cut there too.
        let answerLengths = items.map { codec.answerTokens($0.answer, promptLength: 0).count }.sorted()
        let overBudget = answerLengths.filter { $0 > config.maxNewTokens }.count
        // Prompts longer than the room left by the answer budget lose their beginning.
        let promptLengths = items.map { tokenizer.encode($0.prompt).count }
        let promptRoom = codec.promptRoom(reserve: reserve)
        let promptsCut = promptLengths.filter { $0 > promptRoom }.count
        let lengths = sequences.map { modelConfig.visualTokens + $0.tokens.count }.sorted()
        logger.info("SFT examples", metadata: [
            "sft.examples": "\(items.count)", "sft.replay_pool": "\(replay.all.count)",
            "sft.positions.median": "\(lengths.percentileOfSorted(50))",
            "sft.positions.max": "\(lengths.percentileOfSorted(100))",
            "answer.tokens.median": "\(answerLengths.percentileOfSorted(50))",
            "answer.tokens.max": "\(answerLengths.percentileOfSorted(100))",
            "answer.over_budget": "\(overBudget)",
            "answer.budget": "\(config.maxNewTokens)",
            "prompt.tokens.max": "\(promptLengths.max() ?? 0)", "prompt.room": "\(promptRoom)", "prompt.cut": "\(promptsCut)"])
        if overBudget > 0 {
            logger.warning("SFT answers longer than the answer budget of RL and evaluation: there they are cut before their tags close", metadata: [
                "answer.over_budget": "\(overBudget)", "sft.examples": "\(items.count)", "answer.budget": "\(config.maxNewTokens)",
                "answer.tokens.max": "\(answerLengths.percentileOfSorted(100))",
                "hint": "raise maxNewTokens or shorten the trajectories"])
        }
        if promptsCut > 0 {
            logger.warning("prompts longer than the room the answer budget leaves lose their beginning", metadata: [
                "prompt.cut": "\(promptsCut)", "sft.examples": "\(items.count)", "prompt.room": "\(promptRoom)",
                "hint": "lower maxNewTokens or use a policy with a longer context"])
        }
        if !cut.isEmpty {
            logger.warning("trajectories longer than the policy's context are cut and lose their answer", metadata: [
                "sft.cut": "\(cut.count)", "sft.examples": "\(items.count)", "model.text_capacity": "\(modelConfig.textCapacity)",
                "hint": "use trajectoryStyle compact for small policies"])
        }
        let perEpoch = items.isEmpty ? 0 : (items.count + config.batchSize - 1) / config.batchSize
        let total = perEpoch * config.sftEpochs
        let schedule = LearningRateSchedule(maxLR: Float(config.sftLearningRate), minLR: Float(config.sftLearningRate) * 0.1,
                                            warmupSteps: max(1, total / 10), totalSteps: max(1, total))
        var rng = SplitMix64(seed: config.seed, stream: "sft")
        var losses: [Double] = []
        var step = 0
        let maxNorm = worker.options.maxGradNorm
        for _ in 0..<config.sftEpochs where !items.isEmpty {
            let order = rng.shuffled(Array(items.indices))
            for start in stride(from: 0, to: order.count, by: config.batchSize) {
                if LearnerWorker.stopping {
                    try? await worker.executor.run { model.detachAdapter() }
                    return nil
                }
                let started = ContinuousClock.now
                let picked = order[start..<min(order.count, start + config.batchSize)]
                var batch = picked.map { items[$0] }
                var encoding = picked.map { sequences[$0] }
                let count = Self.replayCount(trajectories: batch.count, ratio: config.sftReplayRatio)
                if count > 0, !replay.visual.isEmpty {
                    // Drawn as the base's batches are: a replay drawn from the whole pool would
                    // be half visual questions (answered by a letter alone) where the base saw
                    // one in ten, and moves the policy off the answers it learned.
                    let replayed = BaseModelBuilder.batch(count, corpus: replay, namingShare: replayNaming,
                                                          lookupShare: replayLookup, rng: &replayRNG)
                    batch += replayed
                    encoding += replayed.map { codec.trainingSequence($0, reserve: reserve) }
                }
                let encoded = encoding
                let read = try await images.batch(batch.map(\.imageSHA))
                let pixels = config.showsSymmetries
                    ? Self.inSymmetries(read, trajectories: picked.count, side: modelConfig.imageSize, rng: &symmetryRNG)
                    : read
                let lr = schedule.learningRate(at: step)
                let dropoutSeed = rng.next()
                let pad = tokenizer.pad
                let computeStart = ContinuousClock.now
                let result = try await worker.executor.run {
                    try model.supervisedStep(optimizer: optimizer, images: pixels, encoded: encoded,
                                             pad: pad, learningRate: lr, maxNorm: maxNorm, dropoutSeed: dropoutSeed)
                }
                let compute = (ContinuousClock.now - computeStart).seconds
                step += 1
                losses.append(Double(result.loss))
                let wall = (ContinuousClock.now - started).seconds + (step == 1 ? waited.seconds : 0)
                let metrics = LearnerStepMetrics(
                    stage: "sft", step: step, version: 0, loss: Double(result.loss), gradNorm: Double(result.gradNorm),
                    learningRate: Double(lr), tokensPerSecond: Double(result.tokens) / max(compute, 1e-9),
                    waitFraction: step == 1 ? waited.seconds / max(wall, 1e-9) : 0)
                try await worker.store.insertStep(metrics)
                worker.counters?.add("sft.steps")
            }
        }
        // Merge: the merged model is the new base and the GRPO reference.
        try await worker.executor.run { model.mergeAdapter() }
        let mergedSHA = try await worker.artifacts.storeBase(model, tokenizer: tokenizer)
        try await publisher.publish(version: 1, step: step, stage: .sft, baseSHA: mergedSHA, adapterSHA: nil, rlStep: 0)
        let positions = offsets.map { KafkaTopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
        try await worker.store.writeCheckpoint(
            step: step, stage: "sft", version: 1, baseSHA: mergedSHA, referenceSHA: mergedSHA, adapterSHA: nil,
            optimizerBytes: nil, rngState: rng.state, offsets: positions, incarnation: worker.options.incarnation)
        try await run.mark(.sftDone, detail: ["version": 1], on: worker.client)
        // Offsets are committed only once everything they stand for is durable.
        try await consumer.commit(offsets: positions)
        logger.info("SFT done", metadata: [
            "steps": "\(step)", "loss.first": "\(losses.first ?? 0)", "loss.last": "\(losses.last ?? 0)",
            "base.sha": "\(mergedSHA.prefix(12))",
        ])
        return Outcome(losses: losses, mergedSHA: mergedSHA)
    }
}
