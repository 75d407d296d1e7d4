import Foundation
import Testing
@testable import NeuralNet

@Suite struct SamplingTests {
    func setup(lora: Bool = false, rotary: Bool = false) throws -> (PolicyModel, [Float], [[Int32]]) {
        var cfg = ModelConfig.micro(vocabSize: 50)
        cfg.rotary = rotary
        let model = try PolicyModel(config: cfg, seed: 21)
        if lora {
            let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0.1), seed: 3)
            var rng = SeededGenerator(seed: 4)
            for i in 0..<ad.params.count { ad.params[i] += rng.nextGaussian() * 0.2 }
            try model.attach(ad)
        }
        let batch = randomBatch(cfg, b: 3, t: 1, seed: 22)
        let prompts: [[Int32]] = [[1, 7, 9], [1], [1, 3, 3, 3, 8]]   // different lengths decode together
        return (model, batch.images, prompts)
    }

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func kvCacheMatchesFullRecompute(lora: Bool, rotary: Bool) throws {
        let (model, images, prompts) = try setup(lora: lora, rotary: rotary)
        let session = try KVCacheSession(model: model, images: images, prompts: prompts)
        var seqs = prompts
        var worst: Float = 0
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<6 {
            let full = try model.nextTokenLogits(images: images, sequences: seqs)
            for (a, b) in zip(full, session.logits) { worst = max(worst, abs(a - b)) }
            let next = (0..<3).map { _ in Int32(rng.next() % 50) }
            for i in 0..<3 { seqs[i].append(next[i]) }
            try session.step(next)
        }
        if rotary {
            // the positions do turn q and k: the same weights without them predict otherwise (by
            // little at initialisation, where attention is nearly uniform; exactly alike if inert)
            let (plain, _, _) = try setup(lora: lora, rotary: false)
            let a = try model.nextTokenLogits(images: images, sequences: seqs)
            let b = try plain.nextTokenLogits(images: images, sequences: seqs)
            #expect(zip(a, b).map { abs($0 - $1) }.max()! > 1e-6)
        }
        print("[kv cache\(lora ? ", LoRA" : "")\(rotary ? ", rotary" : "")] worst logit difference vs full recompute \(worst)")
        #expect(worst < 1e-4)
    }

    /// A group's K rows repeat one image and prompt: they share one prefill, and decode as
    /// rows of their own.
    @Test func repeatedRowsShareTheirPrefillAndDecodeAlone() throws {
        let (model, images, prompts) = try setup(lora: true, rotary: true)
        let r3 = model.config.imageSize * model.config.imageSize * 3
        // Rows 0, 1, 3: image 0 with prompt 0; row 2: image 0 with prompt 1; row 4: image 1 with prompt 0.
        let rows = [(0, 0), (0, 0), (0, 1), (0, 0), (1, 0)]
        let rowImages = rows.flatMap { images[($0.0 * r3)..<(($0.0 + 1) * r3)] }
        var seqs = rows.map { prompts[$0.1] }
        #expect(distinctRows(images: rowImages, prompts: seqs, imageFloats: r3).slot == [0, 0, 1, 0, 2])
        let session = try KVCacheSession(model: model, images: rowImages, prompts: seqs)
        var worst: Float = 0
        var rng = SeededGenerator(seed: 6)
        for _ in 0..<5 {
            let full = try model.nextTokenLogits(images: rowImages, sequences: seqs)
            for (a, b) in zip(full, session.logits) { worst = max(worst, abs(a - b)) }
            let next = rows.map { _ in Int32(rng.next() % 50) }
            for i in rows.indices { seqs[i].append(next[i]) }
            try session.step(next)
        }
        print("[kv cache, shared prefill] worst logit difference vs full recompute \(worst)")
        #expect(worst < 1e-4)
        #expect(throws: NeuralNetError.self) { try KVCacheSession(model: model, images: rowImages, prompts: [[1], [1], [], [1], [1]]) }
    }

    @Test func cachedAndUncachedGenerationAgree() throws {
        let (model, images, prompts) = try setup()
        let opts = SamplingOptions(maxNewTokens: 8, temperature: 1, seed: 9, stopToken: 2)
        var noCache = opts
        noCache.useKVCache = false
        let a = try model.generate(images: images, prompts: prompts, options: opts)
        let b = try model.generate(images: images, prompts: prompts, options: noCache)
        #expect(a.map(\.tokens) == b.map(\.tokens))
        for (x, y) in zip(a, b) { for (p, q) in zip(x.logProbs, y.logProbs) { #expect(abs(p - q) < 1e-4) } }
    }

    @Test func seededSamplingIsReproducibleAndSeedsDiffer() throws {
        let (model, images, prompts) = try setup()
        let opts = SamplingOptions(maxNewTokens: 10, temperature: 1.0, seed: 42)
        let a = try model.generate(images: images, prompts: prompts, options: opts)
        let b = try model.generate(images: images, prompts: prompts, options: opts)
        #expect(a == b)
        var other = opts
        other.seed = 43
        let c = try model.generate(images: images, prompts: prompts, options: other)
        #expect(a.map(\.tokens) != c.map(\.tokens))
        // a row does not depend on its batch companions
        let solo = try model.generate(images: Array(images[0..<(8 * 8 * 3)]), prompts: [prompts[0]], options: opts)
        #expect(solo[0].tokens == a[0].tokens)
    }

    @Test func greedyIsDeterministicAndArgmax() throws {
        let (model, images, prompts) = try setup()
        let opts = SamplingOptions(maxNewTokens: 5, temperature: 0, seed: 1)
        var other = opts
        other.seed = 999
        let a = try model.generate(images: images, prompts: prompts, options: opts)
        let b = try model.generate(images: images, prompts: prompts, options: other)
        #expect(a.map(\.tokens) == b.map(\.tokens))
        let logits = try model.nextTokenLogits(images: images, sequences: prompts)
        for i in 0..<3 {
            let row = logits[(i * 50)..<((i + 1) * 50)]
            #expect(Int(a[i].tokens[0]) == row.indices.max(by: { row[$0] < row[$1] })! - i * 50)
        }
    }

    @Test func logProbsAreThePolicysAtTemperatureOne() throws {
        let (model, images, prompts) = try setup()
        let opts = SamplingOptions(maxNewTokens: 4, temperature: 0.7, seed: 3)
        let s = try model.generate(images: images, prompts: prompts, options: opts)
        // score prompt + sample with the training forward: the same log-probabilities
        for i in 0..<3 {
            let seq = prompts[i] + s[i].tokens
            let batch = PolicyBatch(images: Array(images[(i * 192)..<((i + 1) * 192)]), tokens: seq, batchSize: 1, length: seq.count)
            let lp = try model.logProbs(batch)
            for (t, sampled) in s[i].logProbs.enumerated() {
                #expect(abs(lp[prompts[i].count + t] - sampled) < 1e-4)
            }
            #expect(s[i].samplingLogProbs != s[i].logProbs)
        }
    }

    @Test func minPDrawsOnlyTokensNearTheTopAndRenormalises() {
        // Probabilities at temperature 1 proportional to 8, 4, 2, 1, 0.5, 0.25: with min-p 0.2
        // only the first three (8/8, 4/8, 2/8 >= 0.2) can be drawn, with probabilities 8/14,
        // 4/14 and 2/14 (the naive reference); without min-p the tail is drawn too.
        let logits: [Float] = [8, 4, 2, 1, 0.5, 0.25].map { logf($0) }
        let v = logits.count
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: v)
        defer { scratch.deallocate() }
        func draws(minP: Float, n: Int) -> [Int: Int] {
            var rng = SeededGenerator(seed: 9)
            var counts: [Int: Int] = [:]
            logits.withUnsafeBufferPointer { row in
                for _ in 0..<n {
                    let (token, lp, slp) = PolicyModel.pick(row.baseAddress!, v: v, temperature: 1, minP: minP,
                                                            rng: &rng, scratch: scratch)
                    counts[Int(token), default: 0] += 1
                    let weights: [Float] = [8, 4, 2, 1, 0.5, 0.25]
                    let kept = minP > 0 ? weights.filter { $0 / 8 >= minP } : weights
                    #expect(abs(lp - logf(weights[Int(token)] / 15.75)) < 1e-4, "log pi at temperature 1")
                    #expect(abs(slp - logf(weights[Int(token)] / kept.reduce(0, +))) < 1e-4, "log of the draw's probability")
                }
            }
            return counts
        }
        let truncated = draws(minP: 0.2, n: 4000)
        #expect(Set(truncated.keys) == [0, 1, 2], "\(truncated)")
        #expect(abs(Double(truncated[0]!) / 4000 - 8.0 / 14) < 0.03)
        #expect(abs(Double(truncated[2]!) / 4000 - 2.0 / 14) < 0.03)
        let full = draws(minP: 0, n: 4000)
        #expect(full.keys.contains(4) && full.keys.contains(5), "the tail without min-p: \(full)")
    }

    @Test func aMinPOutsideZeroToOneIsRefused() throws {
        let (model, images, prompts) = try setup()
        #expect(throws: NeuralNetError.self) {
            try model.generate(images: images, prompts: prompts, options: SamplingOptions(maxNewTokens: 2, minP: 1.5))
        }
    }

    @Test func stopsAtStopToken() throws {
        let (model, images, prompts) = try setup()
        // greedy picks some token first; make that the stop token
        let first = try model.generate(images: images, prompts: prompts, options: SamplingOptions(maxNewTokens: 1, temperature: 0))
        let stop = first[0].tokens[0]
        let s = try model.generate(images: images, prompts: prompts,
                                   options: SamplingOptions(maxNewTokens: 6, temperature: 0, stopToken: stop))
        #expect(s[0].stopped && s[0].tokens == [stop])
        for x in s { #expect(x.tokens.count <= 6) }
    }
}

@Suite struct BatchingTests {
    @Test func paddedBatchGivesEachSequenceItsOwnLogProbs() throws {
        let cfg = ModelConfig.micro(vocabSize: 50)
        let model = try PolicyModel(config: cfg, seed: 1)
        let images = randomBatch(cfg, b: 2, t: 1, seed: 2).images
        let seqs: [[Int32]] = [[1, 5, 6, 7, 8, 2], [1, 9, 2]]
        let together = try model.sequenceLogProbs(images: images, sequences: seqs)
        #expect(together.map(\.count) == [6, 3])
        let alone = try model.sequenceLogProbs(images: Array(images[192...]), sequences: [seqs[1]])
        for (a, b) in zip(together[1], alone[0]) { #expect(abs(a - b) < 1e-5) }   // padding does not leak
        let mask = try PolicyBatch.responseMask(lengths: [6, 3], responseStarts: [3, 1], length: 6)
        #expect(mask == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0])
        #expect(throws: NeuralNetError.self) { try PolicyBatch.responseMask(lengths: [6], responseStarts: [7], length: 6) }
    }
}
