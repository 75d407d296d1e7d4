import Testing
@testable import NeuralNet

/// Whole-model gradient checks: analytic backward vs central differences of
/// L = sum_t w_t log pi(token_t), with every tensor sampled.
@Suite struct ModelGradientTests {
    func checkModel(_ model: PolicyModel, batch: PolicyBatch, weights: [Float], label: String,
                    dropoutSeed: UInt64? = nil) throws -> Double {
        model.zeroGrad()
        _ = try model.forward(batch, dropoutSeed: dropoutSeed)
        try model.backward(dLogProbs: weights)
        let (params, grads, layout) = model.trainable
        func loss() throws -> Double {
            let lp = try model.forward(batch, dropoutSeed: dropoutSeed)
            var s = 0.0
            for i in 0..<lp.count { s += Double(weights[i]) * Double(lp[i]) }
            return s
        }
        var rng = SeededGenerator(seed: 99)
        var worstAll = 0.0, worstName = ""
        for spec in layout.tensors {
            let idx = sampleIndices(spec, grads: grads.pointer, k: 6, rng: &rng)
            let (w, at) = try finiteDifferenceCheck(buffer: params.pointer, indices: idx,
                                                   analytic: { Double(grads[$0]) }, eps: 1e-2, loss: loss)
            if w > worstAll { worstAll = w; worstName = "\(spec.name)[\(at - spec.offset)] analytic \(grads[at])" }
        }
        print("[\(label)] worst relative gradient error \(worstAll) in \(worstName)")
        return worstAll
    }

    @Test func baseModelLayerNorm() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 1)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 2)
        let w = randomFloats(10, seed: 3)
        #expect(try checkModel(model, batch: batch, weights: w, label: "base, LayerNorm") < 2e-2)
    }

    @Test func baseModelRMSNormPooled() throws {
        var cfg = ModelConfig.micro(vocabSize: 40)
        cfg.norm = .rmsNorm
        cfg.patchSize = 2; cfg.poolSize = 2   // 4x4 patch grid pooled to 2x2 visual tokens
        let model = try PolicyModel(config: cfg, seed: 4)
        let batch = randomBatch(cfg, b: 2, t: 4, seed: 5)
        let w = randomFloats(8, seed: 6)
        #expect(try checkModel(model, batch: batch, weights: w, label: "base, RMSNorm, pooled") < 2e-2)
    }

    @Test func baseModelRotaryPositions() throws {
        var cfg = ModelConfig.micro(vocabSize: 40)
        cfg.rotary = true
        let model = try PolicyModel(config: cfg, seed: 14)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 15)
        let w = randomFloats(10, seed: 16)
        #expect(try checkModel(model, batch: batch, weights: w, label: "base, rotary positions") < 2e-2)
    }

    @Test func branchedRowsRotaryWithAdapter() throws {
        var cfg = ModelConfig.micro(vocabSize: 40)
        cfg.rotary = true
        let model = try PolicyModel(config: cfg, seed: 17)
        let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 18)
        for i in 0..<ad.params.count { ad.params[i] += randomFloats(1, seed: 180 + UInt64(i), scale: 0.05)[0] }
        try model.attach(ad)
        let plain = randomBatch(cfg, b: 2, t: 9, seed: 19)
        let tokens = plain.tokens
        // Row 0: a prompt of 3 and answers of 4 and 2; row 1: a prompt of 2 and answers of 3 and 1 (padded).
        let batch = try PolicyBatch(images: plain.images,
                                    prompts: [Array(tokens[0..<3]), Array(tokens[9..<11])],
                                    answers: [[Array(tokens[3..<7]), Array(tokens[7..<9])], [Array(tokens[11..<14]), [tokens[14]]]])
        let w = randomFloats(batch.batchSize * batch.length, seed: 20)
        #expect(try checkModel(model, batch: batch, weights: w, label: "branched rows, rotary, adapter") < 2e-2)
    }

    @Test func maskedResponseOnlySFTLoss() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 7)
        let batch = randomBatch(cfg, b: 2, t: 6, seed: 8)
        // prompt tokens (first 3 of each row) and padding (last of row 1) do not count
        let mask: [Float] = [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0]
        let lp = try model.forward(batch)
        let (loss, d) = try PolicyLoss.sft(logProbs: lp, responseMask: mask)
        var expected = 0.0
        for i in 0..<12 where mask[i] > 0 { expected -= Double(lp[i]) }
        #expect(abs(Double(loss) - expected / 5) < 1e-5)
        #expect(try checkModel(model, batch: batch, weights: d, label: "masked SFT loss") < 2e-2)
        // the gradient must not depend on prompt tokens' own predictions: weights there are 0
        #expect(d[0] == 0 && d[11] == 0)
    }

    @Test func loraAdapterWithDropout() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 9)
        let adapter = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0.25), seed: 10)
        // B starts at 0; make it non-zero so that the gradients of A are exercised
        var rng = SeededGenerator(seed: 11)
        for i in 0..<adapter.params.count { adapter.params[i] += rng.nextGaussian() * 0.1 }
        try model.attach(adapter)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 12)
        let w = randomFloats(10, seed: 13)
        // the same dropout seed on every forward fixes the mask
        #expect(try checkModel(model, batch: batch, weights: w, label: "LoRA, dropout 0.25", dropoutSeed: 77) < 2e-2)
        // the base stays frozen
        #expect(model.grads.array.allSatisfy { $0 == 0 })
    }
}

@Suite struct ParallelLoopTests {
    /// A model big enough that every parallel loop splits its work gives the same
    /// log-probabilities and gradients on one thread as on several.
    @Test func parallelAndSerialLoopsAgree() throws {
        let cfg = ModelConfig(imageSize: 8, patchSize: 2, poolSize: 2, channels: 64, heads: 4,
                              visionLayers: 1, decoderLayers: 1, vocabSize: 50, maxSequence: 40)
        let batch = randomBatch(cfg, b: 4, t: 30, seed: 1)
        let w = randomFloats(120, seed: 2)
        func run(threads: Int) throws -> ([Float], [Float]) {
            let saved = NeuralNetThreads.loopThreads
            NeuralNetThreads.loopThreads = threads
            defer { NeuralNetThreads.loopThreads = saved }
            let model = try PolicyModel(config: cfg, seed: 3)
            let lp = try model.forward(batch)
            try model.backward(dLogProbs: w)
            return (lp, model.grads.array)
        }
        let (lp1, g1) = try run(threads: 1)
        let (lp2, g2) = try run(threads: 2)
        let worst = zip(g1, g2).map { abs($0 - $1) }.max()!
        print("[parallel loops] worst gradient difference 1 vs 2 threads \(worst)")
        #expect(zip(lp1, lp2).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(worst < 1e-5)
    }
}
