import Foundation

public struct SamplingOptions: Sendable, Equatable {
    /// Most new tokens per row (generation also stops when a row reaches maxSequence).
    public var maxNewTokens: Int
    /// Softmax temperature; 0 means greedy decoding (argmax, lowest id on ties).
    public var temperature: Float
    /// Row b draws from its own generator seeded by (seed, b): a row's sample does not
    /// depend on which other rows share its batch.
    public var seed: UInt64
    /// Generation of a row ends after this token (normally <eos>).
    public var stopToken: Int32?
    /// false recomputes the full sequence at every step (the reference path).
    public var useKVCache: Bool
    /// Min-p truncation: when sampling, only tokens whose probability (at `temperature`) is at
    /// least `minP` times the most likely token's can be drawn; 0 keeps every token. A small
    /// policy spreads a little mass over hundreds of tokens, and over an answer of ~70 tokens
    /// that tail is drawn often enough to garble most answers.
    public var minP: Float

    public init(maxNewTokens: Int = 128, temperature: Float = 1, seed: UInt64 = 0,
                stopToken: Int32? = nil, useKVCache: Bool = true, minP: Float = 0) {
        self.maxNewTokens = maxNewTokens; self.temperature = temperature; self.seed = seed
        self.stopToken = stopToken; self.useKVCache = useKVCache; self.minP = minP
    }
}

public struct PolicySample: Sendable, Equatable {
    /// Generated tokens, the stop token included when it was produced.
    public var tokens: [Int32]
    /// The generated text without the stop token (special tokens such as <thinking> kept).
    public var text: String
    /// log pi(y_t) of each generated token under the policy itself (temperature 1),
    /// whatever temperature it was sampled at: GRPO's behaviour log-probabilities.
    public var logProbs: [Float]
    /// log of the probability the token was actually drawn with (temperature applied;
    /// 0 under greedy decoding).
    public var samplingLogProbs: [Float]
    /// true when the row ended with the stop token.
    public var stopped: Bool
}

extension PolicyModel {
    /// Batched generation. images (B, R, R, 3); prompts: B token lists (each at least one
    /// token, usually starting with <bos>). `tokenizer` decodes `text` (empty without it).
    public func generate(images: [Float], prompts: [[Int32]], options: SamplingOptions,
                         tokenizer: BPETokenizer? = nil) throws -> [PolicySample] {
        let b = prompts.count, v = config.vocabSize
        guard options.maxNewTokens >= 0, options.temperature >= 0 else {
            throw NeuralNetError("sampling: maxNewTokens and temperature must be non-negative")
        }
        guard options.minP >= 0, options.minP <= 1 else {
            throw NeuralNetError("sampling: minP must lie in [0, 1], got \(options.minP)")
        }
        var rngs = (0..<b).map { SeededGenerator(seed: options.seed ^ (UInt64($0) &* 0x9E37_79B9_7F4A_7C15)) }
        var samples = [PolicySample](repeating: PolicySample(tokens: [], text: "", logProbs: [], samplingLogProbs: [], stopped: false), count: b)
        var done = Set<Int>()
        var sequences = prompts
        let session = options.useKVCache
            ? try KVCacheSession(model: self, images: images, prompts: prompts, newTokens: options.maxNewTokens) : nil
        var logits = try session?.logits ?? nextTokenLogits(images: images, sequences: sequences)
        let room = { (i: Int) in self.config.visualTokens + sequences[i].count < self.config.maxSequence }
        for i in 0..<b where !room(i) || options.maxNewTokens == 0 { done.insert(i) }
        var step = 0
        while done.count < b && step < options.maxNewTokens {
            var next = [Int32](repeating: 0, count: b)
            var picked = [(Int32, Float, Float)](repeating: (0, 0, 0), count: b)
            let active = (0..<b).filter { !done.contains($0) }
            logits.withUnsafeBufferPointer { lg in
                picked.withUnsafeMutableBufferPointer { out in
                    rngs.withUnsafeMutableBufferPointer { gens in
                        let lgp = lg.baseAddress!, outp = out.baseAddress!, gp = gens.baseAddress!
                        parallelRanges(active.count, minPerThread: 8) { range in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: v)
                            defer { scratch.deallocate() }
                            for j in range {
                                let i = active[j]
                                outp[i] = Self.pick(lgp + i * v, v: v, temperature: options.temperature,
                                                    minP: options.minP, rng: &gp[i], scratch: scratch)
                            }
                        }
                    }
                }
            }
            for i in active {
                let (tok, lp, slp) = picked[i]
                next[i] = tok
                samples[i].tokens.append(tok)
                samples[i].logProbs.append(lp)
                samples[i].samplingLogProbs.append(slp)
                sequences[i].append(tok)
            }
            step += 1
            for i in 0..<b where !done.contains(i) {
                if let stop = options.stopToken, next[i] == stop { samples[i].stopped = true; done.insert(i) }
                else if step >= options.maxNewTokens || !room(i) { done.insert(i) }
            }
            if done.count == b { break }
            if let s = session {
                try s.step(next, skip: done)
                logits = s.logits
            } else {
                logits = try nextTokenLogits(images: images, sequences: sequences)
            }
        }
        if let tok = tokenizer {
            for i in 0..<b {
                let body = samples[i].stopped ? Array(samples[i].tokens.dropLast()) : samples[i].tokens
                samples[i].text = tok.decode(body)
            }
        }
        return samples
    }

    /// Draws a token from one row of logits. Returns it, its log-probability at
    /// temperature 1 (computed as the training forward computes it, so the behaviour
    /// log-probability of a rollout and the learner's log pi agree), and its log-probability
    /// under the distribution it was drawn from (temperature and min-p applied). `scratch`
    /// holds V floats.
    static func pick(_ row: UnsafePointer<Float>, v: Int, temperature: Float, minP: Float = 0,
                     rng: inout SeededGenerator, scratch: UnsafeMutablePointer<Float>) -> (Int32, Float, Float) {
        let mx = maxOf(row, v)
        var arg = 0
        for j in 0..<v where row[j] == mx { arg = j; break }
        scratch.update(from: row, count: v)
        let lse1 = mx + logf(expShiftedInPlace(scratch, v, mx))
        if temperature == 0 {
            return (Int32(arg), row[arg] - lse1, 0)
        }
        // scratch = exp((logit - max) / T), i.e. p_j / p_max at temperature T; min-p drops
        // what lies below minP of the top token; draw by the cumulative sum
        for j in 0..<v { scratch[j] = (row[j] - mx) / temperature }
        var sumT = expShiftedInPlace(scratch, v, 0)
        if minP > 0 {
            sumT = 0
            for j in 0..<v {
                if scratch[j] < minP { scratch[j] = 0 } else { sumT += scratch[j] }
            }
        }
        let u = rng.nextUniform() * sumT
        var acc: Float = 0, chosen = v - 1
        for j in 0..<v {
            acc += scratch[j]
            if acc > u { chosen = j; break }
        }
        while scratch[chosen] == 0 && chosen > 0 { chosen -= 1 }   // never a token of probability 0
        let lpT = logf(scratch[chosen] / sumT)
        return (Int32(chosen), row[chosen] - lse1, lpT)
    }
}
