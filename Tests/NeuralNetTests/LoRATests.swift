import Testing
@testable import NeuralNet

@Suite struct LoRATests {
    func adapted(_ cfg: ModelConfig, targets: LoRATargets = .all) throws -> (PolicyModel, LoRAAdapter) {
        let model = try PolicyModel(config: cfg, seed: 31)
        let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 3, alpha: 6, dropout: 0.1, targets: targets), seed: 32)
        var rng = SeededGenerator(seed: 33)
        for i in 0..<ad.params.count { ad.params[i] += rng.nextGaussian() * 0.2 }
        try model.attach(ad)
        return (model, ad)
    }

    @Test func freshAdapterLeavesTheModelUnchanged() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 1)
        let batch = randomBatch(cfg, b: 2, t: 4, seed: 2)
        let before = try model.logProbs(batch)
        try model.attach(LoRAAdapter(modelConfig: cfg, config: .nano, seed: 3))
        #expect(try model.logProbs(batch) == before)
    }

    @Test(arguments: [LoRATargets.all, .attention, .mlp]) func mergedEqualsBasePlusAdapter(targets: LoRATargets) throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let (model, _) = try adapted(cfg, targets: targets)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 34)
        let withAdapter = try model.logProbs(batch)
        model.mergeAdapter()
        #expect(model.adapter == nil)
        let merged = try model.logProbs(batch)
        let worst = zip(withAdapter, merged).map { abs($0 - $1) }.max()!
        print("[LoRA merge \(targets.rawValue)] worst log-prob difference merged vs adapter \(worst)")
        #expect(worst < 1e-4)
        let base = try PolicyModel(config: cfg, seed: 31)
        #expect(try base.logProbs(batch) != merged)   // the adapter did change the model
    }

    @Test func adapterTrainsAloneWithBaseFrozen() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let (model, ad) = try adapted(cfg)
        let baseBefore = model.params.array
        let batch = randomBatch(cfg, b: 2, t: 6, seed: 35)
        let mask = [Float](repeating: 1, count: 12)
        let opt = AdamW(layout: ad.layout)
        var first: Float = 0, last: Float = 0
        for step in 0..<15 {
            model.zeroGrad()
            let loss = try model.sftForwardBackward(batch, responseMask: mask, dropoutSeed: UInt64(step))
            if step == 0 { first = loss }
            last = loss
            opt.step(params: ad.params, grads: ad.grads, learningRate: 1e-2)
        }
        #expect(last < first)
        #expect(model.params.array == baseBefore)
        #expect(model.grads.array.allSatisfy { $0 == 0 })
    }

    @Test func adapterExportsAndReloadsOnItsOwn() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let (model, ad) = try adapted(cfg)
        let batch = randomBatch(cfg, b: 1, t: 4, seed: 36)
        let before = try model.logProbs(batch)
        let bytes = try PolicyCheckpoint.encodeAdapter(ad, metadata: ["version": "7"])
        // the adapter file is much smaller than the base
        let baseBytes = try PolicyCheckpoint.encodeBase(model, tokenizer: nil)
        #expect(bytes.count < baseBytes.count / 2)
        let (back, meta) = try PolicyCheckpoint.decodeAdapter(bytes, source: "adapter-v7")
        #expect(meta["version"] == "7")
        #expect(back.config == ad.config)
        #expect(back.params.array == ad.params.array)
        model.detachAdapter()
        try model.attach(back)
        #expect(try model.logProbs(batch) == before)
    }

    @Test func mismatchedAdapterIsRejected() throws {
        let model = try PolicyModel(config: .micro(vocabSize: 40), seed: 1)
        let other = try LoRAAdapter(modelConfig: .micro(vocabSize: 41), config: .nano, seed: 1)
        #expect(throws: NeuralNetError.self) { try model.attach(other) }
    }
}

@Suite struct ModelStateTests {
    @Test func cloneIsDeepAndMergedCloneIsTheReference() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 1)
        let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: 2)
        for i in 0..<ad.params.count { ad.params[i] += 0.05 }
        try model.attach(ad)
        let batch = randomBatch(cfg, b: 2, t: 4, seed: 3)
        let policy = try model.logProbs(batch)
        let reference = try model.clone()
        reference.mergeAdapter()
        let merged = try reference.logProbs(batch)
        #expect(zip(policy, merged).allSatisfy { abs($0 - $1) < 1e-4 })
        ad.params[0] += 1   // the clone does not share the adapter
        #expect(try reference.logProbs(batch) == merged)
        #expect(model.adapter != nil)
    }

    @Test func backwardNeedsItsForward() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 1)
        #expect(throws: NeuralNetError.self) { try model.backward(dLogProbs: [0]) }
        let batch = randomBatch(cfg, b: 1, t: 3, seed: 2)
        _ = try model.forward(batch)
        _ = try model.nextTokenLogits(images: batch.images, sequences: [[1, 2]])
        #expect(throws: NeuralNetError.self) { try model.backward(dLogProbs: [0, 0, 0]) }
        _ = try model.forward(batch)
        try model.backward(dLogProbs: [1, 0, 0])
        #expect(model.grads.array.contains { $0 != 0 })
        // a batch with a token outside the vocabulary is refused, naming the position
        let bad = PolicyBatch(images: batch.images, tokens: [1, 40, 2], batchSize: 1, length: 3)
        #expect(throws: NeuralNetError.self) { try model.forward(bad) }
    }
}

@Suite struct LoRADropoutTests {
    @Test func dropoutIsSeededAndOnlyInTraining() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 1)
        let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0.3), seed: 2)
        for i in 0..<ad.params.count { ad.params[i] += 0.1 }
        try model.attach(ad)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 3)
        let plain = try model.logProbs(batch)
        let a = try model.forward(batch, dropoutSeed: 11)
        let b = try model.forward(batch, dropoutSeed: 11)
        let c = try model.forward(batch, dropoutSeed: 12)
        #expect(a == b)
        #expect(a != plain && a != c)
        // the kept fraction of the last mask is close to 1 - p, kept entries scaled by 1/(1-p)
        let mask = model.acts!.decoder[1].lora[3]!.mask!.array.prefix(2 * (5 + cfg.visualTokens) * cfg.hidden)
        let kept = Double(mask.filter { $0 != 0 }.count) / Double(mask.count)
        #expect(abs(kept - 0.7) < 0.05)
        #expect(mask.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
    }
}
