import Foundation

/// Measurements behind `skinr1 bench model`, reported as ratios within one run.
public enum PolicyBenchmarks {
    public struct LearnerStep: Sendable {
        public var seconds: Double          // per step (best of the timed steps)
        public var tokensPerSecond: Double  // decoder positions (visual prefix + text) per second
        public var gflops: Double           // matmul GFLOP/s achieved
        public var peakRSSBytes: Int?       // VmHWM after the steps
    }

    public struct Generation: Sendable {
        public var cachedTokensPerSecond: Double
        public var uncachedTokensPerSecond: Double
        public var speedup: Double { cachedTokensPerSecond / uncachedTokensPerSecond }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// Peak resident set size of this process (VmHWM), nil where /proc is not available.
    public static func peakRSSBytes() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// A GRPO-sized learner step: forward + backward (+ AdamW) over B sequences of T text
    /// tokens after the visual prefix. With `lora` the base is frozen and an adapter trains.
    public static func learnerStep(config: ModelConfig, batch b: Int, textTokens t: Int, lora: LoRAConfig?,
                                   steps: Int = 5) throws -> LearnerStep {
        let model = try PolicyModel(config: config, seed: 1)
        if let lc = lora { try model.attach(LoRAAdapter(modelConfig: config, config: lc, seed: 2)) }
        var rng = SeededGenerator(seed: 3)
        let r = config.imageSize
        let batch = PolicyBatch(images: (0..<(b * r * r * 3)).map { _ in rng.nextUniform() * 2 - 1 },
                                tokens: (0..<(b * t)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) },
                                batchSize: b, length: t)
        let weights = (0..<(b * t)).map { _ in rng.nextUniform() - 0.5 }
        let train = model.trainable
        let opt = AdamW(layout: train.layout)
        func step() throws {
            model.zeroGrad()
            _ = try model.forward(batch, dropoutSeed: 1)
            try model.backward(dLogProbs: weights)
            clipGradientNorm(train.grads, maxNorm: 1)
            opt.step(params: train.params, grads: train.grads, learningRate: 1e-4)
        }
        try step()   // warm-up: allocations, BLAS buffers
        var best = Double.infinity, flops = 0
        for _ in 0..<steps {
            let f0 = GEMMStats.totalFLOPs, t0 = now()
            try step()
            let dt = now() - t0
            if dt < best { best = dt; flops = GEMMStats.totalFLOPs - f0 }
        }
        let positions = Double(b * (config.visualTokens + t))
        return LearnerStep(seconds: best, tokensPerSecond: positions / best, gflops: Double(flops) / best / 1e9,
                           peakRSSBytes: peakRSSBytes())
    }

    /// Generated tokens per second for B rows of `newTokens` each, with and without the KV cache.
    public static func generation(config: ModelConfig, batch b: Int, promptTokens p: Int, newTokens n: Int) throws -> Generation {
        let model = try PolicyModel(config: config, seed: 4)
        var rng = SeededGenerator(seed: 5)
        let r = config.imageSize
        let images = (0..<(b * r * r * 3)).map { _ in rng.nextUniform() * 2 - 1 }
        let prompts = (0..<b).map { _ in (0..<p).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) } }
        var opts = SamplingOptions(maxNewTokens: n, temperature: 1, seed: 6, stopToken: nil, useKVCache: true)
        var t0 = now()
        let cached = try model.generate(images: images, prompts: prompts, options: opts)
        let tc = now() - t0
        opts.useKVCache = false
        t0 = now()
        let uncached = try model.generate(images: images, prompts: prompts, options: opts)
        let tu = now() - t0
        let produced = Double(cached.reduce(0) { $0 + $1.tokens.count })
        let producedU = Double(uncached.reduce(0) { $0 + $1.tokens.count })
        return Generation(cachedTokensPerSecond: produced / tc, uncachedTokensPerSecond: producedU / tu)
    }

    public struct GroupPacking: Sendable {
        public var plainSeconds: Double      // one row per answer (best of the timed passes)
        public var branchedSeconds: Double   // one branched row per group
        public var plainPositions: Int       // decoder slots computed, padding included
        public var branchedPositions: Int
        public var speedup: Double { plainSeconds / branchedSeconds }
    }

    /// GRPO's forward and backward over `groups` groups of `answers` answers to one prompt
    /// each, as one row per answer and as one branched row per group, timed alternately in
    /// the same run with the same weights (an adapter trains, the base is frozen).
    public static func groupPacking(config: ModelConfig, lora: LoRAConfig, groups g: Int, answers k: Int,
                                    promptTokens p: Int, answerTokens a: Int, repeats: Int = 5) throws -> GroupPacking {
        let model = try PolicyModel(config: config, seed: 9)
        try model.attach(LoRAAdapter(modelConfig: config, config: lora, seed: 10))
        var rng = SeededGenerator(seed: 11)
        let r3 = config.imageSize * config.imageSize * 3
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) } }
        let images = (0..<g).map { _ in (0..<r3).map { _ in rng.nextUniform() * 2 - 1 } }
        let prompts = (0..<g).map { _ in tokens(p) }
        let answers = (0..<g).map { _ in (0..<k).map { _ in tokens(a) } }
        let plain = try PolicyBatch(images: images.flatMap { image in (0..<k).flatMap { _ in image } },
                                    sequences: prompts.indices.flatMap { i in answers[i].map { prompts[i] + $0 } })
        let branched = try PolicyBatch(images: images.flatMap { $0 }, prompts: prompts, answers: answers)
        func pass(_ batch: PolicyBatch) throws -> Double {
            let weights = (0..<(batch.batchSize * batch.length)).map { _ in rng.nextUniform() - 0.5 }
            let t0 = now()
            model.zeroGrad()
            _ = try model.forward(batch)
            try model.backward(dLogProbs: weights)
            return now() - t0
        }
        _ = try pass(plain); _ = try pass(branched)   // warm-up: activations of both shapes
        var bestPlain = Double.infinity, bestBranched = Double.infinity
        for _ in 0..<repeats {
            bestPlain = min(bestPlain, try pass(plain))
            bestBranched = min(bestBranched, try pass(branched))
        }
        let slots = { (b: PolicyBatch) in b.batchSize * (config.visualTokens + b.length) }
        return GroupPacking(plainSeconds: bestPlain, branchedSeconds: bestBranched,
                            plainPositions: slots(plain), branchedPositions: slots(branched))
    }

    /// SFT on a handful of fixed sequences with a micro model; returns the loss per step.
    public static func overfit(steps: Int = 150, report: (Int, Float) -> Void) throws -> [Float] {
        let cfg = ModelConfig.micro(vocabSize: 64)
        let model = try PolicyModel(config: cfg, seed: 7)
        var rng = SeededGenerator(seed: 8)
        let b = 4, t = 12, r = cfg.imageSize
        let batch = PolicyBatch(images: (0..<(b * r * r * 3)).map { _ in rng.nextUniform() * 2 - 1 },
                                tokens: (0..<(b * t)).map { _ in Int32(rng.next() % 64) }, batchSize: b, length: t)
        let mask: [Float] = (0..<(b * t)).map { $0 % t >= 4 ? 1 : 0 }   // prompt: first 4 tokens
        let opt = AdamW(layout: model.layout, config: AdamWConfig(weightDecay: 0))
        let schedule = LearningRateSchedule(maxLR: 1e-2, minLR: 1e-3, warmupSteps: 10, totalSteps: steps)
        var losses: [Float] = []
        for s in 0..<steps {
            model.zeroGrad()
            let loss = try model.sftForwardBackward(batch, responseMask: mask)
            clipGradientNorm(model.grads, maxNorm: 1)
            opt.step(params: model.params, grads: model.grads, learningRate: schedule.learningRate(at: s))
            losses.append(loss)
            report(s, loss)
        }
        return losses
    }
}
