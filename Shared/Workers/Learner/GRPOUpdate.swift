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
        /// Tokens the step's forward passes computed (a branched row's prompt once).
        var tokens: Int
        /// Answers whose reference log-probabilities came with the rollout (not computed here).
        var referenceFromWorkers: Int
    }

    /// The answers of one forward pass, and where each answer's tokens sit in its output.
    struct Chunk {
        var rows: [GRPOBatchRow]
        var batch: PolicyBatch
        /// Per row, in order: its answer's entries of the (B*T) per-token arrays.
        var answerRanges: [Range<Int>]
        /// Tokens the pass computes (prompts once per branched row, padding left out).
        var tokens: Int

        func responses(_ all: [Float]) -> [[Float]] { answerRanges.map { Array(all[$0]) } }
    }

    /// Splits rows into chunks of at most `size` answers. Branched: consecutive rows of one
    /// group that share the image and the prompt become one branched row (`BranchedRow`), so
    /// the image and the prompt are computed once for the group's answers; the answers' log-
    /// probabilities and gradients are those of one row each.
    static func chunks(_ rows: [GRPOBatchRow], size: Int, branched: Bool) throws -> [Chunk] {
        var packs: [[GRPOBatchRow]] = []
        for row in rows {
            if branched, let first = packs.last?.first, packs[packs.count - 1].count < size, first.groupID == row.groupID,
               first.responseStart == row.responseStart, first.tokens[..<first.responseStart] == row.tokens[..<row.responseStart],
               first.image == row.image {
                packs[packs.count - 1].append(row)
            } else {
                packs.append([row])
            }
        }
        var chunks: [Chunk] = []
        var current: [[GRPOBatchRow]] = []
        func close() throws {
            guard !current.isEmpty else { return }
            let rows = current.flatMap { $0 }
            if branched {
                let batch = try PolicyBatch(images: current.flatMap { $0[0].image },
                                            prompts: current.map { Array($0[0].tokens[..<$0[0].responseStart]) },
                                            answers: current.map { $0.map { Array($0.tokens[$0.responseStart...]) } })
                let ranges = current.indices.flatMap { p in current[p].indices.map { batch.answerRange(row: p, answer: $0) } }
                let tokens = batch.branches!.reduce(0) { $0 + $1.length }
                chunks.append(Chunk(rows: rows, batch: batch, answerRanges: ranges, tokens: tokens))
            } else {
                let batch = try PolicyBatch(images: rows.flatMap(\.image), sequences: rows.map(\.tokens))
                let ranges = rows.enumerated().map { b, row in (b * batch.length + row.responseStart)..<(b * batch.length + row.tokens.count) }
                chunks.append(Chunk(rows: rows, batch: batch, answerRanges: ranges, tokens: rows.reduce(0) { $0 + $1.tokens.count }))
            }
            current = []
        }
        for pack in packs {
            if current.reduce(0, { $0 + $1.count }) + pack.count > size { try close() }
            current.append(pack)
        }
        try close()
        return chunks
    }

    /// Legend: B rows per chunk, T the chunk's padded length. Pass 1 computes log pi_ref
    /// (reference model, no adapter; skipped for a chunk whose rows all brought theirs from
    /// the rollout worker) and, when LoRA dropout is on, log pi_prox (the current
    /// weights, no dropout, no gradient). Pass 2 runs the policy with gradient per chunk,
    /// evaluates the objective on the chunk, scales the chunk's loss and gradients by its
    /// share of the whole batch (so the sum equals the batch objective under either
    /// aggregation), and back-propagates the per-token gradients placed in a (B*T) dLogProbs.
    /// Then clip and AdamW on the adapter. With dropout off, pi_prox equals the pass-2 values
    /// (one update per step: the weights have not moved yet), so they are reused. `branched`
    /// runs each group's answers as one branched row (the same step, less computation).
    static func step(policy: PolicyModel, reference: PolicyModel, optimizer: AdamW, rows: [GRPOBatchRow],
                     settings: GRPOSettings, chunk: Int, dropoutSeed: UInt64?, learningRate: Float,
                     maxNorm: Float, branched: Bool = true) throws -> Result {
        let withTokens = rows.filter { $0.answerLength > 0 }
        guard !withTokens.isEmpty else { throw LearnerError("a GRPO step needs at least one answer token") }
        let chunks = try Self.chunks(withTokens, size: max(1, chunk), branched: branched)
        let totalAnswers = Double(withTokens.count)
        let totalTokens = Double(withTokens.reduce(0) { $0 + $1.answerLength })

        // Pass 1: reference (and proximal) log-probabilities, no gradient.
        var referenceLP: [[[Float]]] = []
        var proximalLP: [[[Float]]?] = []
        var fromWorkers = 0
        for c in chunks {
            let brought = c.rows.compactMap(\.referenceLogProbs)
            if brought.count < c.rows.count {
                referenceLP.append(c.responses(try reference.logProbs(c.batch)))
            } else {
                referenceLP.append(brought)
                fromWorkers += c.rows.count
            }
            proximalLP.append(dropoutSeed != nil ? c.responses(try policy.logProbs(c.batch)) : nil)
        }

        // Pass 2: the policy with gradient, chunk by chunk.
        policy.zeroGrad()
        var loss = 0.0
        var clipped = 0.0, kl = 0.0, ratio = 0.0, truncated = 0.0
        var tokens = 0
        for (i, c) in chunks.enumerated() {
            let current = c.responses(try policy.forward(c.batch, dropoutSeed: dropoutSeed))
            let proximal = proximalLP[i] ?? current
            let sequences = c.rows.enumerated().map { j, row in
                GRPOSequence(advantage: row.advantage, behaviourLogProbs: row.behaviourLogProbs,
                             proximalLogProbs: proximal[j], referenceLogProbs: referenceLP[i][j])
            }
            let result = try GRPOObjective.evaluate(policyLogProbs: current, sequences: sequences, settings: settings)
            let chunkTokens = Double(c.rows.reduce(0) { $0 + $1.answerLength })
            let share = settings.aggregation == .token ? chunkTokens / totalTokens : Double(c.rows.count) / totalAnswers
            loss += share * result.loss
            let n = Double(result.statistics.tokens)
            clipped += result.statistics.clipFraction * n
            kl += result.statistics.klMean * n
            ratio += result.statistics.ratioMean * n
            truncated += result.statistics.truncatedWeightFraction * n
            var d = [Float](repeating: 0, count: c.batch.batchSize * c.batch.length)
            for (j, range) in c.answerRanges.enumerated() {
                for (k, g) in result.gradients[j].enumerated() { d[range.lowerBound + k] = Float(share) * g }
            }
            try policy.backward(dLogProbs: d)
            tokens += c.tokens
        }
        let trainable = policy.trainable
        let norm = clipGradientNorm(trainable.grads, maxNorm: maxNorm)
        optimizer.step(params: trainable.params, grads: trainable.grads, learningRate: learningRate)
        let stats = Statistics(clipFraction: clipped / totalTokens, klMean: kl / totalTokens,
                                   ratioMean: ratio / totalTokens, truncatedWeightFraction: truncated / totalTokens)
        return Result(loss: loss, statistics: stats, gradNorm: norm, tokens: tokens, referenceFromWorkers: fromWorkers)
    }
}
