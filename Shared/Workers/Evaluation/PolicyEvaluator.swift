import Backoff
import Domain
import Foundation
import Logging
import NeuralNet
import PolicyRuntime
import Store
import Synchronization

/// The answers of one policy version to a set of evaluation items, graded.
public struct VersionEvaluation: Sendable {
    public var policy: PublishedPolicy
    public var outcomes: [EvaluationOutcome]
    /// The decoded answer texts, in the order of `outcomes`.
    public var answers: [String]
    public var values: [SuiteMetricValue]
    /// Wall time of loading the weights and of decoding every item.
    public var loadSeconds: Double
    public var decodeSeconds: Double
    public var generatedTokens: Int
}

/// Evaluates policy versions: base (+ adapter) from the blob store, greedy decoding
/// (temperature 0) in batches, strict parsing, metrics. The base of the previous version is
/// kept while the next version shares it, so RL versions only load their adapter.
public final class PolicyEvaluator: Sendable {
    private struct Loaded: Sendable {
        var baseSHA: String
        var model: PolicyModel
        var tokenizer: BPETokenizer
        var images: ImageCache
    }

    private let blobs: BlobStore
    private let artifacts: PolicyArtifacts
    private let executor: ModelExecutor
    private let logger: Logger
    private let loaded = Mutex<Loaded?>(nil)

    public init(client: PostgresClient, logger: Logger) {
        blobs = BlobStore(client: client)
        artifacts = PolicyArtifacts(blobs: blobs)
        executor = ModelExecutor(label: "evaluator")
        self.logger = logger
    }

    /// Greedy answers of `policy` to every item, graded, with the metrics of each suite.
    /// `maxNewTokens` bounds each answer; `batchSize` items are decoded together. A positive
    /// `temperature` samples instead, with min-p `minP` (what rollout workers see; not the
    /// method's evaluation).
    public func evaluate(_ policy: PublishedPolicy, items: [EvaluationSuiteItem], maxNewTokens: Int,
                         batchSize: Int, temperature: Float = 0, minP: Float = 0) async throws -> VersionEvaluation {
        guard !items.isEmpty else {
            throw EvaluationError("version \(policy.version): there are no evaluation items to answer")
        }
        let loadStart = ContinuousClock.now
        let current = try await prepare(policy)
        let loadSeconds = (ContinuousClock.now - loadStart).seconds

        let model = current.model, tokenizer = current.tokenizer
        let codec = PromptCodec(tokenizer: tokenizer, config: model.config)
        let options = SamplingOptions(maxNewTokens: maxNewTokens, temperature: temperature, seed: 0,
                                      stopToken: tokenizer.eos, minP: minP)
        var outcomes: [EvaluationOutcome] = []
        outcomes.reserveCapacity(items.count)
        var answers: [String] = []
        answers.reserveCapacity(items.count)
        var generated = 0
        let decodeStart = ContinuousClock.now
        for start in stride(from: 0, to: items.count, by: max(1, batchSize)) {
            try Task.checkCancellation()
            let batch = Array(items[start..<min(start + max(1, batchSize), items.count)])
            let images = try await current.images.batch(batch.map(\.item.imageSHA))
            let prompts = batch.map { codec.promptTokens($0.item.prompt, reserve: maxNewTokens) }
            let samples = try await executor.run {
                try model.generate(images: images, prompts: prompts, options: options, tokenizer: tokenizer)
            }
            for (entry, sample) in zip(batch, samples) {
                outcomes.append(EvaluationOutcome.grade(entry, answer: sample.text))
                answers.append(sample.text)
                generated += sample.tokens.count
            }
        }
        let decodeSeconds = (ContinuousClock.now - decodeStart).seconds
        return VersionEvaluation(policy: policy, outcomes: outcomes, answers: answers, values: EvaluationMetrics.summarize(outcomes),
                                 loadSeconds: loadSeconds, decodeSeconds: decodeSeconds, generatedTokens: generated)
    }

    /// The model of `policy` ready to decode: its base (reused when unchanged) with its
    /// adapter attached, or with none.
    private func prepare(_ policy: PublishedPolicy) async throws -> Loaded {
        var current = loaded.withLock { $0 }
        if current?.baseSHA != policy.baseSHA {
            // Drop the old base before reading the new one: one model in memory at a time.
            loaded.withLock { $0 = nil }
            current = nil
            let base = try await artifacts.loadBase(policy.baseSHA)
            current = Loaded(baseSHA: policy.baseSHA, model: base.model, tokenizer: base.tokenizer,
                             images: ImageCache(blobs: blobs, side: base.model.config.imageSize))
            loaded.withLock { $0 = current }
        }
        let ready = current!
        var loadedAdapter: LoRAAdapter? = nil
        if let sha = policy.adapterSHA { loadedAdapter = try await artifacts.loadAdapter(sha) }
        let adapter = loadedAdapter
        if let adapter, adapter.modelConfig != ready.model.config {
            throw EvaluationError("version \(policy.version): adapter \(policy.adapterSHA ?? "-") was made for another "
                                  + "model than base \(policy.baseSHA.prefix(12))")
        }
        let model = ready.model
        try await executor.run {
            model.detachAdapter()
            if let adapter { try model.attach(adapter) }
        }
        return ready
    }
}
