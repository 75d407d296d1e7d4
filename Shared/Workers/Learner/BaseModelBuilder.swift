import Catalogue
import ContentHash
import Domain
import Foundation
import Knowledge
import Logging
import NeuralNet
import Pipeline
import PolicyRuntime
import Store

/// The model shape a run asks for, sized to the tokenizer's vocabulary.
enum LearnerModelShape {
    static func config(for run: RunConfig, vocabSize: Int) throws -> ModelConfig {
        do {
            return try ModelConfig.named(run.modelSize, vocabSize: vocabSize)
        } catch {
            throw LearnerError("run config modelSize: \(error)")
        }
    }

    /// Answer positions kept free after a prompt: the run's answer length, leaving the prompt
    /// at least a few tokens on small models.
    static func reserve(_ run: RunConfig, _ model: ModelConfig) -> Int {
        max(1, min(run.maxNewTokens, model.textCapacity - 4))
    }

    static func lora(_ run: RunConfig) -> LoRAConfig {
        LoRAConfig(rank: run.loraRank, alpha: Float(run.loraAlpha), dropout: Float(run.loraDropout))
    }
}

/// What the base stage produced.
struct BaseOutcome: Sendable {
    var model: PolicyModel
    var tokenizer: BPETokenizer
    var sha: String
    var key: String
    var reused: Bool
    var pretrainLosses: [Double]
    var appearanceSource: AppearanceSource?
}

/// Builds the tokenizer and the BASE model (pipeline contract, learner step 2): a BPE
/// tokenizer over an arm-independent text corpus, then full-weight pretraining on the
/// general visual-language corpus (`VisualCorpus`). Cached in `base_models` under a key
/// from the data, the seed, the model knobs, the vocabulary and the pretraining schedule,
/// so that every arm of an experiment starts from the identical base.
struct BaseModelBuilder: Sendable {
    let run: RunRecord
    let client: PostgresClient
    let store: LearnerStore
    let artifacts: PolicyArtifacts
    let executor: ModelExecutor
    let options: LearnerOptions
    let logger: Logger

    /// Texts the tokenizer learns from: SFT trajectory prompts and targets, the disease
    /// questions of RL's first pass, evaluation prompts, and the answer templates of the visual
    /// corpus. None of them depends on the arm or on how the run draws RL's prompts: the RL
    /// texts are those of the reference draw (`TrainingCorpusBuilder.prompts` without condition
    /// questions or `rlPromptsOfferDiagnosis`), in the order of their ids, so a run that changes
    /// those reuses the base of the run that does not.
    func tokenizerCorpus(visual: [VisualExample], knowledge: KnowledgeBase) async throws -> [String] {
        // `visual` holds the naming questions too when the run has them.
        var texts: [String] = []
        let trajectories = try await client.query("""
            SELECT prompt, target FROM trajectories WHERE run_id = \(run.id) ORDER BY id
            """)
        for row in trajectories { texts.append(try row.decode("prompt")); texts.append(try row.decode("target")) }
        let training = try await client.withConnection { try await CatalogueReader($0).trainingCases(split: .train) }
        var skipped = SkipTally()
        let drawn = TrainingCorpusBuilder.prompts(
            questions: QuestionBuilder(taxonomy: knowledge.taxonomy, graph: knowledge.graph), runID: run.id,
            training: training, epochs: 1, seed: run.config.seed, skipped: &skipped)
        texts += drawn.sorted { $0.promptID < $1.promptID }.map(\.item.prompt)
        let evals = try await client.query("SELECT item->>'prompt' AS prompt FROM eval_items ORDER BY id")
        for row in evals { if let p = try row.decode("prompt", as: String?.self) { texts.append(p) } }
        for example in visual { texts.append(example.prompt); texts.append(example.answer) }
        // Every answer format once, so its tags and letters are in the corpus even when little else is.
        texts.append(PromptText.instructions(for: .letterAndCondition))
        texts.append(PromptText.instructions(for: .letterOnly))
        texts.append(PromptText.trajectoryInstruction)
        return Self.sample(texts, limit: options.maxTokenizerTexts)
    }

    /// The taxonomy's names, each once and in a stable order: the phrases a tokenizer keeps
    /// whole when the run asks for it (`RunConfig.wholeNameTokens`).
    static func wholeNames(_ taxonomy: Taxonomy) -> [String] {
        Array(Set(taxonomy.nonRootIDs.map { taxonomy.name(of: $0) })).sorted()
    }

    /// At most `limit` texts, evenly spread, in a stable order (all of them without a limit).
    static func sample(_ texts: [String], limit: Int) -> [String] {
        limit > 0 ? texts.evenlySpread(limit: limit) : texts
    }

    /// Held-out lookup drills the base answers after its warm-up and at its end.
    static let probeDrills = 100

    static func cacheKey(run: RunConfig, corpusDigest: String) -> String {
        let knobs = [
            "scale=\(run.dataScale)", "seed=\(run.seed)", "model=\(run.modelSize)", "vocab=\(run.vocabSize)",
            "pretrainSteps=\(run.pretrainSteps)", "pretrainLR=\(run.pretrainLearningRate)", "batch=\(run.batchSize)",
            "maxNewTokens=\(run.maxNewTokens)", "corpus=\(corpusDigest)", "variants=\(VisualCorpus.baseVariants)",
        ] + (run.namingShare > 0 ? ["naming=\(run.namingShare)"] : [])
            + (run.lookupShare > 0 ? ["lookup=\(run.lookupShare)"] : [])
            + (run.lookupWarmup > 0 ? ["lookupWarmup=\(run.lookupWarmup)", "lookupWarmupLR=\(run.lookupWarmupLearningRate)", "schedules=2", "warmupFreezes=image"] : [])
            + ((run.lookupShare > 0 || run.lookupWarmup > 0) && run.drillFormat != .plain ? ["drills=\(run.drillFormat.rawValue)"] : [])
            + (run.namingShare > 0 && run.namingFormat != .plain ? ["namingFormat=\(run.namingFormat.rawValue)"] : [])
            + (run.namingShare > 0 ? run.pretrainNamingDepth.map { ["namingDepth=\($0)"] } ?? [] : [])
            + (run.imageRateShare != 1 ? ["imageRateShare=\(run.imageRateShare)"] : [])
            + (run.keepsNamesWhole ? ["names=whole"] : [])
            + ((try? ModelConfig.named(run.modelSize, vocabSize: run.vocabSize).usesRotary) == true ? ["positions=rotary"] : [])
        let joined = knobs.joined(separator: "|")
        return "base-v1-" + SHA256.hexDigest(Array(joined.utf8))
    }

    /// The base, loaded from the cache or trained; nil when a graceful shutdown interrupted
    /// the pretraining (nothing is stored then; the next start trains again).
    func build() async throws -> BaseOutcome? {
        let config = run.config
        let knowledge = try KnowledgeBase.load()
        let (cases, source) = try await VisualCorpus.appearances(on: client, knowledge: knowledge, limit: options.maxVisualCases)
        guard !cases.isEmpty else {
            throw LearnerError("no textbook or training cases with known appearance in the catalogue: write the corpus first (skinr1 data synth)")
        }
        let shares = [("pretrainNamingShare", config.namingShare), ("pretrainLookupShare", config.lookupShare)]
        for (name, share) in shares where !(0...1).contains(share) {
            throw LearnerError("\(name) is \(share): a share of pretraining batches lies between 0 and 1")
        }
        guard config.namingShare + config.lookupShare <= 1 else {
            throw LearnerError("pretrainNamingShare \(config.namingShare) + pretrainLookupShare \(config.lookupShare) exceeds 1")
        }
        guard (0...config.pretrainSteps).contains(config.lookupWarmup) else {
            throw LearnerError("pretrainLookupWarmup \(config.lookupWarmup) must lie between 0 and pretrainSteps \(config.pretrainSteps)")
        }
        guard config.lookupWarmupLearningRate > 0, config.lookupWarmupLearningRate.isFinite else {
            throw LearnerError("pretrainLookupWarmupLearningRate is \(config.lookupWarmupLearningRate): a learning rate is positive")
        }
        if let depth = config.pretrainNamingDepth, depth < 1 {
            throw LearnerError("pretrainNamingDepth is \(depth): a depth in the taxonomy below its root is 1 or more")
        }
        guard config.imageRateShare > 0, config.imageRateShare.isFinite else {
            throw LearnerError("pretrainImageRateShare is \(config.imageRateShare): a share of the learning rate is positive")
        }
        let corpus = VisualCorpus.corpus(for: cases, taxonomy: knowledge.taxonomy, graph: knowledge.graph, seed: config.seed,
                                         namingShare: config.namingShare,
                                         lookupShare: config.lookupWarmup > 0 ? 1 : config.lookupShare,
                                         namingFormat: config.namingFormat, drillFormat: config.drillFormat, namingDepth: config.pretrainNamingDepth,
                                         variants: VisualCorpus.baseVariants)
        let texts = try await tokenizerCorpus(visual: corpus.firstVariants, knowledge: knowledge)
        var digestInput = texts.joined(separator: "\u{1}")
        digestInput += cases.map { "\($0.caseID):\($0.imageSHA)" }.joined(separator: ",")
        let key = Self.cacheKey(run: config, corpusDigest: SHA256.hexDigest(Array(digestInput.utf8)))

        if let sha = try await store.cachedBase(key: key) {
            let loaded = try await artifacts.loadBase(sha)
            logger.info("base model reused", metadata: ["base.key": "\(key.prefix(20))", "base.sha": "\(sha.prefix(12))"])
            return BaseOutcome(model: loaded.model, tokenizer: loaded.tokenizer, sha: sha, key: key, reused: true,
                               pretrainLosses: [], appearanceSource: nil)
        }

        let vocab = config.vocabSize
        let phrases = config.keepsNamesWhole ? Self.wholeNames(knowledge.taxonomy) : []
        let tokenizer = try await executor.run { try BPETokenizer.train(corpus: texts, vocabSize: vocab, phrases: phrases) }
        let modelConfig = try LearnerModelShape.config(for: config, vocabSize: tokenizer.vocabSize)
        let model = try PolicyModel(config: modelConfig, seed: config.seed)
        let codec = PromptCodec(tokenizer: tokenizer, config: modelConfig)
        let images = ImageCache(blobs: BlobStore(client: client), side: modelConfig.imageSize)
        let optimizer = AdamW(layout: model.layout)
        let steps = config.pretrainSteps
        let reserve = LearnerModelShape.reserve(config, modelConfig)
        var rng = SplitMix64(seed: config.seed, stream: "pretrain")
        var losses: [Double] = []
        var positions: [Int] = []   // decoder positions of every sequence trained on
        logger.info("pretraining the base", metadata: [
            "base.cases": "\(cases.count)", "base.examples": "\(corpus.visual.count)", "base.naming": "\(corpus.naming.count)",
            "base.naming_share": "\(config.namingShare)", "base.lookup": "\(corpus.lookup.count)",
            "base.lookup_share": "\(config.lookupShare)", "base.lookup_warmup": "\(config.lookupWarmup)",
            "base.lookup_warmup_lr": "\(config.lookupWarmupLearningRate)", "base.appearance": "\(source.rawValue)",
            "tokenizer.vocab": "\(tokenizer.vocabSize)", "tokenizer.phrases": "\(phrases.count)", "model.parameters": "\(model.parameterCount)", "steps": "\(steps)",
        ])
        let probeDrills = VisualCorpus.drills(config.drillFormat, for: cases, taxonomy: knowledge.taxonomy,
                                              graph: knowledge.graph, seed: config.seed &+ 1)
            .evenlySpread(limit: Self.probeDrills)
        let probePixels = try await images.batch(probeDrills.map(\.imageSHA))
        let pixelsPerImage = modelConfig.imageSize * modelConfig.imageSize * 3
        /// Held-out lookup drills answered greedily (LookupProbe), logged with `moment`.
        func probe(_ moment: String) async throws -> LookupProbe.Result {
            let result = try await executor.run {
                try LookupProbe.run(policy: model, codec: codec, tokenizer: tokenizer, drills: probeDrills, reserve: reserve) { range in
                    Array(probePixels[(range.lowerBound * pixelsPerImage)..<(range.upperBound * pixelsPerImage)])
                }
            }
            logger.info("base lookup probe", metadata: [
                "probe.after": "\(moment)", "probe.drills": "\(result.drills)",
                "probe.letter_accuracy": "\(result.letterAccuracy)", "probe.format_rate": "\(result.formatRate)",
            ])
            return result
        }
        var imageShare: Float = 1
        for step in 0..<steps {
            if LearnerWorker.stopping { return nil }
            if step > 0, step == config.lookupWarmup { _ = try await probe("warm-up, step \(step)") }
            let share = Self.imageRateShare(at: step, of: config)
            if share != imageShare {
                imageShare = share
                optimizer.scale(tensorsWithPrefixes: ParameterLayout.imageTensorPrefixes, by: share)
            }
            let shares = Self.shares(at: step, of: config)
            let picks = Self.batch(config.batchSize, corpus: corpus, namingShare: shares.naming,
                                   lookupShare: shares.lookup, rng: &rng)
            let encoded = picks.map { codec.trainingSequence($0, reserve: reserve) }
            positions += encoded.map { modelConfig.visualTokens + $0.tokens.count }
            let pixels = try await images.batch(picks.map(\.imageSHA))
            let lr = Self.learningRate(at: step, of: config)
            let loss = try await executor.run {
                try model.supervisedStep(optimizer: optimizer, images: pixels, encoded: encoded,
                                         pad: tokenizer.pad, learningRate: lr, maxNorm: 1.0, dropoutSeed: nil).loss
            }
            losses.append(Double(loss))
            if step % 20 == 0 || step == steps - 1 {
                logger.debug("pretrain step", metadata: ["step": "\(step)", "loss": "\(loss)"])
            }
        }
        let lookup = try await probe("pretraining, step \(steps)")
        let sha = try await artifacts.storeBase(model, tokenizer: tokenizer)
        try await store.cacheBase(key: key, sha: sha, createdBy: run.id)
        // Position-table rows past the longest sequence keep their random initialisation, and
        // the adapters of SFT and RL cannot train them: answers reaching there come out garbled.
        positions.sort()
        logger.info("base model trained", metadata: [
            "base.sha": "\(sha.prefix(12))", "loss.first": "\(losses.first ?? 0)", "loss.last": "\(losses.last ?? 0)",
            "base.positions.median": "\(positions.percentileOfSorted(50))",
            "base.positions.p99": "\(positions.percentileOfSorted(99))",
            "base.positions.max": "\(positions.percentileOfSorted(100))", "model.max_sequence": "\(modelConfig.maxSequence)",
            "base.lookup.letter_accuracy": "\(lookup.letterAccuracy)",
        ])
        return BaseOutcome(model: model, tokenizer: tokenizer, sha: sha, key: key, reused: false,
                           pretrainLosses: losses, appearanceSource: source)
    }

    /// The learning rate of a pretraining step. Without a lookup warm-up one schedule spans
    /// every step (linear ramp over the first tenth, cosine down to a tenth of the peak).
    /// With one, the warm-up's drills run such a schedule of their own, peaking at the
    /// warm-up's rate, and the mix after it another over the remaining steps: drills learn
    /// the letter lookup at a rate that would stall the vision blocks, and the mix then
    /// trains those from a fresh ramp at the base's own rate.
    static func learningRate(at step: Int, of run: RunConfig) -> Float {
        let (warmup, steps) = (run.lookupWarmup, run.pretrainSteps)
        func schedule(_ peak: Double, _ total: Int) -> LearningRateSchedule {
            LearningRateSchedule(maxLR: Float(peak), minLR: Float(peak) * 0.1, warmupSteps: max(1, total / 10), totalSteps: total)
        }
        if step < warmup { return schedule(run.lookupWarmupLearningRate, warmup).learningRate(at: step) }
        return schedule(run.pretrainLearningRate, steps - warmup).learningRate(at: step - warmup)
    }

    /// The share of the learning rate the image-reading tensors move by at a pretraining step:
    /// none during a lookup warm-up (its drills do not depend on the image, and they would
    /// drift at the warm-up's rate), the run's `imageRateShare` after it.
    static func imageRateShare(at step: Int, of run: RunConfig) -> Float {
        step < run.lookupWarmup ? 0 : Float(run.imageRateShare)
    }

    /// The shares of naming and lookup batches at a pretraining step: drills alone during the
    /// lookup warm-up, the run's mix after it.
    static func shares(at step: Int, of run: RunConfig) -> (naming: Double, lookup: Double) {
        step < run.lookupWarmup ? (0, 1) : (run.namingShare, run.lookupShare)
    }

    /// One pretraining batch: lookup drills with probability `lookupShare`, naming questions
    /// with probability `namingShare`, else (and when the drawn kind has no examples)
    /// visual-corpus examples.
    /// Whole batches of one kind, because a batch is as long as its longest sequence.
    static func batch(_ size: Int, corpus: BaseCorpus, namingShare: Double, lookupShare: Double,
                      rng: inout SplitMix64) -> [VisualExample] {
        let draw = corpus.naming.isEmpty && corpus.lookup.isEmpty ? 1 : rng.nextDouble()
        let kind = draw < lookupShare ? corpus.lookup : draw < lookupShare + namingShare ? corpus.naming : []
        let pool = kind.isEmpty ? corpus.visual : kind
        return (0..<size).map { _ in pool[rng.nextInt(below: pool.count)] }
    }
}
