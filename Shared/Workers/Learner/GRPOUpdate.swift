import NeuralNet
import Pipeline
import Training

/// One answer of a step's batch: the image, the full token sequence (prompt then answer)
/// and what the objective needs about the answer.
struct GRPOBatchRow: Sendable {
    var image: [Float]
    var tokens: [Int32]
    /// Index in `tokens` where the answer starts.
    var responseStart: Int
    var behaviourLogProbs: [Float]
    /// log pi_ref of the answer's tokens as a rollout worker computed them; nil: the
    /// learner computes them.
    var referenceLogProbs: [Float]?
    var advantage: Double
    var groupID: String

    /// The answer is cut (with its behaviour log-probabilities) so the sequence fits the
    /// model's text capacity. `referenceFromWorker`: whether the answer's reference
    /// log-probabilities were computed with the learner's own reference (the group names
    /// the same base); those are kept when they cover the kept tokens.
    init(image: [Float], prompt: [Int32], answer: RolloutAnswer, advantage: Double, capacity: Int, groupID: String,
         referenceFromWorker: Bool = false) throws {
        guard answer.tokens.count == answer.behaviourLogProbs.count else {
            throw LearnerError("group \(groupID): an answer has \(answer.tokens.count) tokens but \(answer.behaviourLogProbs.count) behaviour log-probabilities")
        }
        guard !prompt.isEmpty, prompt.count < capacity else {
            throw LearnerError("group \(groupID): prompt of \(prompt.count) tokens does not fit the model's \(capacity) text positions")
        }
        let room = capacity - prompt.count
        let kept = min(room, answer.tokens.count)
        self.image = image
        self.tokens = prompt + answer.tokens.prefix(kept)
        self.responseStart = prompt.count
        self.behaviourLogProbs = Array(answer.behaviourLogProbs.prefix(kept))
        if referenceFromWorker, let reference = answer.referenceLogProbs, reference.count >= kept {
            let values = Array(reference.prefix(kept))
            // Values no model can give are not trusted: the learner computes them instead.
            if values.allSatisfy({ $0.isFinite && $0 <= 0 }) { self.referenceLogProbs = values }
        }
        self.advantage = advantage
        self.groupID = groupID
    }

    var answerLength: Int { tokens.count - responseStart }
}

/// The numeric part of a GRPO step (runs on the model thread).
enum GRPOUpdate {
    /// The objective's statistics over the whole step (token-weighted over chunks).
    struct Statistics: Sendable {
        var clipFraction: Double
        var klMean: Double
        var ratioMean: Double
        var truncatedWeightFraction: Double
    }

    struct Result: Sendable {
        var loss: Double
        var statistics: Statistics
        var gradNorm: Float
        var tokens: Int
        /// Answers whose reference log-probabilities came with the rollout (not computed here).
        var referenceFromWorkers: Int
    }

    /// Legend: B rows per chunk, T the chunk's padded length. Pass 1 computes log pi_ref
    /// (reference model, no adapter; skipped for a chunk whose rows all brought theirs from
    /// the rollout worker) and, when LoRA dropout is on, log pi_prox (the current
    /// weights, no dropout, no gradient). Pass 2 runs the policy with gradient per chunk,
    /// evaluates the objective on the chunk, scales the chunk's loss and gradients by its
    /// share of the whole batch (so the sum equals the batch objective under either
    /// aggregation), and back-propagates the per-token gradients placed in a (B*T) dLogProbs.
    /// Then clip and AdamW on the adapter. With dropout off, pi_prox equals the pass-2 values
    /// (one update per step: the weights have not moved yet), so they are reused.
    static func step(policy: PolicyModel, reference: PolicyModel, optimizer: AdamW, rows: [GRPOBatchRow],
                     settings: GRPOSettings, chunk: Int, dropoutSeed: UInt64?, learningRate: Float,
                     maxNorm: Float) throws -> Result {
        let withTokens = rows.filter { $0.answerLength > 0 }
        guard !withTokens.isEmpty else { throw LearnerError("a GRPO step needs at least one answer token") }
        let chunks = stride(from: 0, to: withTokens.count, by: chunk).map { Array(withTokens[$0..<min(withTokens.count, $0 + chunk)]) }
        let totalAnswers = Double(withTokens.count)
        let totalTokens = Double(withTokens.reduce(0) { $0 + $1.answerLength })

        func responses(_ all: [Float], _ rows: [GRPOBatchRow], length t: Int) -> [[Float]] {
            rows.enumerated().map { b, row in Array(all[(b * t + row.responseStart)..<(b * t + row.tokens.count)]) }
        }
        func batch(_ rows: [GRPOBatchRow]) throws -> PolicyBatch {
            try PolicyBatch(images: rows.flatMap(\.image), sequences: rows.map(\.tokens))
        }

        // Pass 1: reference (and proximal) log-probabilities, no gradient.
        var referenceLP: [[[Float]]] = []
        var proximalLP: [[[Float]]?] = []
        var fromWorkers = 0
        for rows in chunks {
            let brought = rows.compactMap(\.referenceLogProbs)
            let needsReference = brought.count < rows.count
            // The batch is built only for a pass that runs here.
            let b: PolicyBatch? = needsReference || dropoutSeed != nil ? try batch(rows) : nil
            if let b, needsReference {
                referenceLP.append(responses(try reference.logProbs(b), rows, length: b.length))
            } else {
                referenceLP.append(brought)
                fromWorkers += rows.count
            }
            proximalLP.append(try b.flatMap { dropoutSeed != nil ? responses(try policy.logProbs($0), rows, length: $0.length) : nil })
        }

        // Pass 2: the policy with gradient, chunk by chunk.
        policy.zeroGrad()
        var loss = 0.0
        var clipped = 0.0, kl = 0.0, ratio = 0.0, truncated = 0.0
        var tokens = 0
        for (c, rows) in chunks.enumerated() {
            let b = try batch(rows)
            let all = try policy.forward(b, dropoutSeed: dropoutSeed)
            let current = responses(all, rows, length: b.length)
            let proximal = proximalLP[c] ?? current
            let sequences = rows.enumerated().map { j, row in
                GRPOSequence(advantage: row.advantage, behaviourLogProbs: row.behaviourLogProbs,
                             proximalLogProbs: proximal[j], referenceLogProbs: referenceLP[c][j])
            }
            let result = try GRPOObjective.evaluate(policyLogProbs: current, sequences: sequences, settings: settings)
            let chunkTokens = Double(rows.reduce(0) { $0 + $1.answerLength })
            let share = settings.aggregation == .token ? chunkTokens / totalTokens : Double(rows.count) / totalAnswers
            loss += share * result.loss
            let n = Double(result.statistics.tokens)
            clipped += result.statistics.clipFraction * n
            kl += result.statistics.klMean * n
            ratio += result.statistics.ratioMean * n
            truncated += result.statistics.truncatedWeightFraction * n
            var d = [Float](repeating: 0, count: b.batchSize * b.length)
            for (j, row) in rows.enumerated() {
                for (i, g) in result.gradients[j].enumerated() {
                    d[j * b.length + row.responseStart + i] = Float(share) * g
                }
            }
            try policy.backward(dLogProbs: d)
            tokens += rows.reduce(0) { $0 + $1.tokens.count }
        }
        let trainable = policy.trainable
        let norm = clipGradientNorm(trainable.grads, maxNorm: maxNorm)
        optimizer.step(params: trainable.params, grads: trainable.grads, learningRate: learningRate)
        let stats = Statistics(clipFraction: clipped / totalTokens, klMean: kl / totalTokens,
                                   ratioMean: ratio / totalTokens, truncatedWeightFraction: truncated / totalTokens)
        return Result(loss: loss, statistics: stats, gradNorm: norm, tokens: tokens, referenceFromWorkers: fromWorkers)
    }
}
