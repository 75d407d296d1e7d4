import Testing
@testable import NeuralNet

@Suite struct OptimizerTests {
    @Test func adamWOverfitsAFewSequences() throws {
        let cfg = ModelConfig.micro(vocabSize: 30)
        let model = try PolicyModel(config: cfg, seed: 61)
        let batch = randomBatch(cfg, b: 3, t: 8, seed: 62)
        // response = last 5 tokens of each row
        let mask: [Float] = (0..<24).map { $0 % 8 >= 3 ? 1 : 0 }
        let opt = AdamW(layout: model.layout, config: AdamWConfig(weightDecay: 0.0))
        let schedule = LearningRateSchedule(maxLR: 1e-2, minLR: 1e-3, warmupSteps: 5, totalSteps: 120)
        var losses: [Float] = []
        for step in 0..<120 {
            model.zeroGrad()
            losses.append(try model.sftForwardBackward(batch, responseMask: mask))
            clipGradientNorm(model.grads, maxNorm: 1.0)
            opt.step(params: model.params, grads: model.grads, learningRate: schedule.learningRate(at: step))
        }
        print("[overfit] loss \(losses[0]) -> \(losses.last!)")
        #expect(losses[0] > 2.5)
        #expect(losses.last! < 0.05)
    }

    @Test func weightDecayTouchesMatricesOnly() throws {
        let cfg = ModelConfig.micro(vocabSize: 30)
        let model = try PolicyModel(config: cfg, seed: 63)
        let before = model.params.array
        let opt = AdamW(layout: model.layout, config: AdamWConfig(weightDecay: 0.5))
        model.zeroGrad()   // zero gradients: only decay moves anything
        opt.step(params: model.params, grads: model.grads, learningRate: 0.1)
        for t in model.layout.tensors {
            let moved = (t.offset..<(t.offset + t.count)).contains { model.params[$0] != before[$0] }
            let nonzero = (t.offset..<(t.offset + t.count)).contains { before[$0] != 0 }
            #expect(moved == (t.isMatrix && nonzero), "\(t.name)")
        }
    }

    @Test func scaledTensorsMoveByTheirShareOfTheRate() throws {
        let cfg = ModelConfig.micro(vocabSize: 30)
        let batch = randomBatch(cfg, b: 2, t: 6, seed: 64)
        let mask = [Float](repeating: 1, count: 12)
        func run(_ scale: ((AdamW) -> Void)?) throws -> (before: [Float], after: [Float], layout: ParameterLayout) {
            let model = try PolicyModel(config: cfg, seed: 65)
            let before = model.params.array
            let opt = AdamW(layout: model.layout, config: AdamWConfig(weightDecay: 0.1))
            scale?(opt)
            model.zeroGrad()
            _ = try model.sftForwardBackward(batch, responseMask: mask)
            opt.step(params: model.params, grads: model.grads, learningRate: 1e-2)
            return (before, model.params.array, model.layout)
        }
        let plain = try run(nil)
        var covered = 0
        let held = try run { covered = $0.scale(tensorsWithPrefixes: ["vision.", "connector."], by: 0) }
        let half = try run { $0.scale(tensorsWithPrefixes: ["decoder.wte"], by: 0.5) }
        #expect(covered == plain.layout.tensors.filter { $0.name.hasPrefix("vision.") || $0.name.hasPrefix("connector.") }
            .reduce(0) { $0 + $1.count })
        #expect(covered > 0)
        for t in plain.layout.tensors {
            let range = t.offset..<(t.offset + t.count)
            let image = t.name.hasPrefix("vision.") || t.name.hasPrefix("connector.")
            if image {
                #expect(range.allSatisfy { held.after[$0] == held.before[$0] }, "\(t.name) held still, decay included")
                #expect(range.contains { plain.after[$0] != plain.before[$0] }, "\(t.name) moves without a scale")
            } else {
                #expect(range.allSatisfy { held.after[$0] == plain.after[$0] }, "\(t.name) unaffected")
            }
            if t.name == "decoder.wte" {
                for i in range {
                    let full = plain.after[i] - plain.before[i], share = half.after[i] - half.before[i]
                    #expect(abs(share - full / 2) <= 1e-6 * max(1, abs(full)), "\(t.name)[\(i)]")
                }
            }
        }
    }

    @Test func clippingAndSchedule() {
        let g = FloatBuffer([3, 4])
        #expect(clipGradientNorm(g, maxNorm: 1) == 5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
        #expect(clipGradientNorm(g, maxNorm: 2) <= 1.0001 && abs(g[0] - 0.6) < 1e-6)
        let s = LearningRateSchedule(maxLR: 1, minLR: 0.1, warmupSteps: 10, totalSteps: 110)
        #expect(abs(s.learningRate(at: 0) - 0.1) < 1e-6)
        #expect(abs(s.learningRate(at: 9) - 1) < 1e-6)
        #expect(abs(s.learningRate(at: 60) - 0.55) < 1e-5)
        #expect(abs(s.learningRate(at: 110) - 0.1) < 1e-6)
        #expect(s.learningRate(at: 30) > s.learningRate(at: 50))
    }
}

@Suite struct OptimizerStateTests {
    @Test func optimizerStateRoundTripsAndResumesIdentically() throws {
        let cfg = ModelConfig.micro(vocabSize: 30)
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 1)
        let mask = [Float](repeating: 1, count: 10)
        func train(_ model: PolicyModel, _ opt: AdamW, steps: Int) throws {
            for _ in 0..<steps {
                model.zeroGrad()
                _ = try model.sftForwardBackward(batch, responseMask: mask)
                opt.step(params: model.params, grads: model.grads, learningRate: 1e-3)
            }
        }
        let a = try PolicyModel(config: cfg, seed: 2)
        let optA = AdamW(layout: a.layout)
        try train(a, optA, steps: 3)
        // snapshot, then continue both the original and a restored copy
        let params = try PolicyCheckpoint.encodeBase(a, tokenizer: nil)
        let state = try PolicyCheckpoint.encodeOptimizer(optA)
        let b = try PolicyCheckpoint.decodeBase(params, source: "snapshot").model
        let optB = AdamW(layout: b.layout)
        try PolicyCheckpoint.restoreOptimizer(optB, from: state, source: "snapshot-optimizer")
        #expect(optB.stepCount == 3)
        try train(a, optA, steps: 2)
        try train(b, optB, steps: 2)
        #expect(a.params.array == b.params.array)
        let small = AdamW(layout: try PolicyModel(config: .micro(vocabSize: 20), seed: 1).layout)
        #expect(throws: NeuralNetError.self) { try PolicyCheckpoint.restoreOptimizer(small, from: state, source: "x") }
    }
}
