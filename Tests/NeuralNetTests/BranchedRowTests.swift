import Foundation
import Testing
@testable import NeuralNet

/// A branched row (one prompt, several answers after it) must give every answer exactly what
/// a row of its own gives: the same log-probabilities and, summed over the answers, the same
/// gradients.
@Suite struct BranchedRowTests {
    struct Case {
        var images: [[Float]]          // one per prompt
        var prompts: [[Int32]]
        var answers: [[[Int32]]]       // per prompt
    }

    func randomCase(_ cfg: ModelConfig, promptLengths: [Int], answerLengths: [[Int]], seed: UInt64) -> Case {
        var rng = SeededGenerator(seed: seed)
        let r = cfg.imageSize
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(cfg.vocabSize)) } }
        let images = promptLengths.map { _ in (0..<(r * r * 3)).map { _ in rng.nextUniform() * 2 - 1 } }
        let prompts = promptLengths.map { tokens($0) }
        let answers = answerLengths.map { $0.map { tokens($0) } }
        return Case(images: images, prompts: prompts, answers: answers)
    }

    /// The same answers as plain rows: row (p, j) is prompt p followed by its answer j.
    func plainBatch(_ c: Case) throws -> PolicyBatch {
        var images: [Float] = [], sequences: [[Int32]] = []
        for p in c.prompts.indices {
            for answer in c.answers[p] { images += c.images[p]; sequences.append(c.prompts[p] + answer) }
        }
        return try PolicyBatch(images: images, sequences: sequences)
    }

    func branchedBatch(_ c: Case) throws -> PolicyBatch {
        try PolicyBatch(images: c.images.flatMap { $0 }, prompts: c.prompts, answers: c.answers)
    }

    func model(rotary: Bool, adapter: Bool, seed: UInt64) throws -> PolicyModel {
        var cfg = ModelConfig.micro(vocabSize: 40)
        cfg.rotary = rotary
        let model = try PolicyModel(config: cfg, seed: seed)
        if adapter {
            let ad = try LoRAAdapter(modelConfig: cfg, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: seed + 1)
            // A fresh adapter's B is zero; move it so that the adapter changes the outputs.
            for i in 0..<ad.params.count { ad.params[i] += randomFloats(1, seed: seed &+ UInt64(i), scale: 0.05)[0] }
            try model.attach(ad)
        }
        return model
    }

    @Test(arguments: [(false, false), (true, false), (true, true)])
    func everyAnswerGetsTheLogProbsOfARowOfItsOwn(rotary: Bool, adapter: Bool) throws {
        let m = try model(rotary: rotary, adapter: adapter, seed: 21)
        // Two prompts of different lengths (so the second row is padded), an empty answer among them.
        let c = randomCase(m.config, promptLengths: [5, 3], answerLengths: [[4, 3, 0, 5], [6, 2]], seed: 22)
        let plain = try plainBatch(c), branched = try branchedBatch(c)
        let plainLP = try m.logProbs(plain), branchedLP = try m.logProbs(branched)
        var worst: Float = 0, row = 0, compared = 0
        for p in c.prompts.indices {
            for (j, answer) in c.answers[p].enumerated() {
                let alone = Array(plainLP[(row * plain.length)..<(row * plain.length + c.prompts[p].count + answer.count)])
                // The prompt's tokens, then the answer's.
                let promptLP = Array(branchedLP[(p * branched.length)..<(p * branched.length + c.prompts[p].count)])
                let answerLP = Array(branchedLP[branched.answerRange(row: p, answer: j)])
                for (x, y) in zip(alone, promptLP + answerLP) { worst = max(worst, abs(x - y)); compared += 1 }
                #expect(alone.count == promptLP.count + answerLP.count)
                row += 1
            }
        }
        print("[branched rows, rotary \(rotary), adapter \(adapter)] \(compared) log-probabilities, worst difference \(worst)")
        #expect(compared == 32 + 14)
        #expect(worst < 1e-5)
    }

    @Test(arguments: [false, true])
    func gradientsOfABranchedRowAreTheSumOverItsAnswers(adapter: Bool) throws {
        let c = randomCase(ModelConfig.micro(vocabSize: 40), promptLengths: [4, 6], answerLengths: [[3, 5, 2], [4, 1]], seed: 31)
        let plain = try plainBatch(c), branched = try branchedBatch(c)
        // Weights on answer tokens only, as GRPO puts them; the same weight for a token in both layouts.
        var plainW = [Float](repeating: 0, count: plain.batchSize * plain.length)
        var branchedW = [Float](repeating: 0, count: branched.batchSize * branched.length)
        var rng = SeededGenerator(seed: 32)
        var row = 0
        for p in c.prompts.indices {
            for (j, answer) in c.answers[p].enumerated() {
                let range = branched.answerRange(row: p, answer: j)
                for k in answer.indices {
                    let w = rng.nextUniform() * 2 - 1
                    plainW[row * plain.length + c.prompts[p].count + k] = w
                    branchedW[range.lowerBound + k] = w
                }
                row += 1
            }
        }
        func gradients(_ batch: PolicyBatch, _ weights: [Float]) throws -> [Float] {
            let m = try model(rotary: true, adapter: adapter, seed: 33)
            m.zeroGrad()
            _ = try m.forward(batch)
            try m.backward(dLogProbs: weights)
            let g = m.trainable.grads
            return (0..<g.count).map { g[$0] }
        }
        let a = try gradients(plain, plainW), b = try gradients(branched, branchedW)
        let scale = a.map(abs).max() ?? 0
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        print("[branched gradients, adapter \(adapter)] \(a.count) entries, largest \(scale), worst difference \(worst)")
        #expect(scale > 1e-3)
        #expect(worst < 1e-5 * max(1, scale))
    }

    /// What a rollout worker computes for the learner's KL term: rows repeating an image and a
    /// prompt run branched, answers cut to the text capacity, each as alone.
    @Test func answerLogProbsAreThoseOfEachRowAlone() throws {
        let m = try model(rotary: true, adapter: true, seed: 61)
        let room = m.config.textCapacity
        let c = randomCase(m.config, promptLengths: [4, room - 3], answerLengths: [[5, 2, 0], [6, 1]], seed: 62)
        let r3 = m.config.imageSize * m.config.imageSize * 3
        // Rows in a mixed order, as a batch of groups may come: 0, 1 (second prompt), 0, 0, 1.
        let order = [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1)]
        let images = order.flatMap { c.images[$0.0] }
        let prompts = order.map { c.prompts[$0.0] }, answers = order.map { c.answers[$0.0][$0.1] }
        let got = try m.answerLogProbs(images: images, prompts: prompts, answers: answers)
        #expect(got.map(\.count) == [5, 3, 2, 0, 1])   // the long prompt leaves room for 3 tokens
        var worst: Float = 0
        for i in order.indices {
            let alone = try m.sequenceLogProbs(images: Array(images[(i * r3)..<((i + 1) * r3)]),
                                               sequences: [Array((prompts[i] + answers[i]).prefix(room))])[0]
            for (x, y) in zip(alone.dropFirst(prompts[i].count), got[i]) { worst = max(worst, abs(x - y)) }
        }
        #expect(worst < 1e-5)
    }

    /// The blocked attention kernels against the naive ones (every query against every key):
    /// several query blocks, a branched row with holes beside a plain one, both directions.
    @Test(arguments: [true, false])
    func blockedAttentionMatchesTheNaiveOne(causal: Bool) {
        let b = 2, c = 16, h = 2, vn = 4, t = 71, l = vn + t
        let layout = DecoderLayout(rows: [BranchedRow(promptLength: 10, answerLengths: [20, 25, 16]),
                                          BranchedRow(promptLength: t, answerLengths: [])], vn: vn, t: t)
        let holes = causal ? UnsafePointer(layout.holes) : nil
        #expect(attentionBlocks(0, l, causal, holes).count == (causal ? 4 : 1))   // prompt, then each answer
        let qkv = randomFloats(b * l * 3 * c, seed: 71, scale: 2)
        let dout = randomFloats(b * l * c, seed: 72)
        func run(_ naive: Bool) -> (out: [Float], att: [Float], dqkv: [Float]) {
            var out = [Float](repeating: 0, count: b * l * c)
            // Stale values in the probabilities buffer must not leak into either kernel.
            var att = [Float](repeating: .nan, count: b * h * l * l)
            var dqkv = [Float](repeating: 0, count: b * l * 3 * c)
            qkv.withUnsafeBufferPointer { q in
                dout.withUnsafeBufferPointer { d in
                    if naive {
                        attentionForwardNaive(&out, &att, q.baseAddress!, b, l, c, h, causal, holes: holes)
                        attentionBackwardNaive(&dqkv, d.baseAddress!, q.baseAddress!, att, b, l, c, h, causal)
                    } else {
                        attentionForward(&out, &att, q.baseAddress!, b, l, c, h, causal, holes: holes)
                        attentionBackward(&dqkv, d.baseAddress!, q.baseAddress!, att, b, l, c, h, causal, holes: holes)
                    }
                }
            }
            return (out, att, dqkv)
        }
        let naive = run(true), blocked = run(false)
        func worst(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).map { abs($0 - $1) }.max()! }
        print("[attention, causal \(causal)] blocked vs naive: out \(worst(naive.out, blocked.out)), att \(worst(naive.att, blocked.att)), dqkv \(worst(naive.dqkv, blocked.dqkv))")
        #expect(worst(naive.out, blocked.out) < 1e-5)
        #expect(worst(naive.att, blocked.att) < 1e-6)
        #expect(worst(naive.dqkv, blocked.dqkv) < 1e-5)
        #expect(naive.dqkv.map(abs).max()! > 1e-2)
    }

    @Test func softmaxWithAHoleMatchesTheNaiveOne() {
        let valid = 37, width = 40, hole = 9..<23
        var rng = SeededGenerator(seed: 41)
        let scores = (0..<width).map { _ in (rng.nextUniform() * 2 - 1) * 6 }
        var row = scores
        row.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, valid, width, hole: hole) }
        let kept = (0..<valid).filter { !hole.contains($0) }
        let top = kept.map { Double(scores[$0]) }.max()!
        let sum = kept.reduce(0.0) { $0 + exp(Double(scores[$1]) - top) }
        var worst = 0.0
        for j in 0..<width {
            let expected = kept.contains(j) ? exp(Double(scores[j]) - top) / sum : 0
            worst = max(worst, abs(expected - Double(row[j])))
        }
        #expect(worst < 1e-6)
        #expect(hole.allSatisfy { row[$0] == 0 } && (valid..<width).allSatisfy { row[$0] == 0 })
    }

    @Test func anAnswerTooLongForThePositionsIsRefusedByName() throws {
        let m = try model(rotary: true, adapter: false, seed: 51)
        let room = m.config.textCapacity
        // Together the row exceeds the text capacity, which branched rows may; one answer may not.
        let fits = randomCase(m.config, promptLengths: [room - 8], answerLengths: [[8, 8, 8]], seed: 52)
        #expect(try m.logProbs(branchedBatch(fits)).count == room + 16)
        let tooLong = randomCase(m.config, promptLengths: [room - 8], answerLengths: [[8, 9]], seed: 53)
        #expect {
            _ = try m.logProbs(branchedBatch(tooLong))
        } throws: { error in
            "\(error)".contains("branched row 0") && "\(error)".contains("maxSequence")
        }
    }
}
