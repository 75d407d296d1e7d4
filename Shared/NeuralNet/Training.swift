import Foundation

/// Losses expressed through per-token log-probabilities, so that every objective reaches
/// the model through the one `backward(dLogProbs:)` entry point.
public enum PolicyLoss {
    /// SFT (METHOD 6.1, equation 2): L = -(1/|R|) sum_{t in R} log pi(x_t | x_<t, I, p), R the
    /// response tokens (mask > 0; the mask value weights the token). Normalised by the mask
    /// sum of the whole batch so the loss is a per-token mean. Returns the loss and dL/dlogp.
    public static func sft(logProbs: [Float], responseMask: [Float]) throws -> (loss: Float, dLogProbs: [Float]) {
        guard logProbs.count == responseMask.count else {
            throw NeuralNetError("responseMask has \(responseMask.count) entries, logProbs \(logProbs.count)")
        }
        var total = 0.0, weight = 0.0
        for i in 0..<logProbs.count where responseMask[i] != 0 {
            total -= Double(responseMask[i]) * Double(logProbs[i])
            weight += Double(responseMask[i])
        }
        guard weight > 0 else { return (0, [Float](repeating: 0, count: logProbs.count)) }
        let d = responseMask.map { -$0 / Float(weight) }
        return (Float(total / weight), d)
    }
}

extension PolicyModel {
    /// One SFT forward + backward (accumulating gradients); returns the loss.
    public func sftForwardBackward(_ batch: PolicyBatch, responseMask: [Float], dropoutSeed: UInt64? = nil) throws -> Float {
        let logp = try forward(batch, dropoutSeed: dropoutSeed)
        let (loss, d) = try PolicyLoss.sft(logProbs: logp, responseMask: responseMask)
        try backward(dLogProbs: d)
        return loss
    }

    /// One supervised step with response-only loss (METHOD.md 6.1): zero, forward+backward,
    /// clip, AdamW on whatever is trainable (the full weights, or the attached adapter).
    /// Returns the loss, the gradient norm before clipping and the tokens in the batch.
    public func supervisedStep(optimizer: AdamW, images: [Float], encoded: [(tokens: [Int32], responseStart: Int)],
                               pad: Int32, learningRate: Float, maxNorm: Float,
                               dropoutSeed: UInt64?) throws -> (loss: Float, gradNorm: Float, tokens: Int) {
        let batch = try PolicyBatch(images: images, sequences: encoded.map(\.tokens), pad: pad)
        let mask = try PolicyBatch.responseMask(lengths: encoded.map(\.tokens.count),
                                                responseStarts: encoded.map(\.responseStart), length: batch.length)
        zeroGrad()
        let loss = try sftForwardBackward(batch, responseMask: mask, dropoutSeed: dropoutSeed)
        let trainable = self.trainable
        let norm = clipGradientNorm(trainable.grads, maxNorm: maxNorm)
        optimizer.step(params: trainable.params, grads: trainable.grads, learningRate: learningRate)
        return (loss, norm, encoded.reduce(0) { $0 + $1.tokens.count })
    }

    /// The trainable parameters and their gradients (the adapter's when one is attached).
    public var trainable: (params: FloatBuffer, grads: FloatBuffer, layout: ParameterLayout) {
        if let ad = adapter { return (ad.params, ad.grads, ad.layout) }
        return (params, grads, layout)
    }
}

/// Scales `grads` so that their global L2 norm is at most maxNorm; returns the norm before.
@discardableResult
public func clipGradientNorm(_ grads: FloatBuffer, maxNorm: Float) -> Float {
    // sum of squares in Double, 4096 floats at a time
    var sq = 0.0
    var i = 0
    while i < grads.count {
        let k = min(4096, grads.count - i)
        sq += Double(dot(grads.pointer + i, grads.pointer + i, k))
        i += k
    }
    let norm = Float(sq.squareRoot())
    if norm > maxNorm, norm > 0 { scaleInPlace(grads.pointer, maxNorm / norm, grads.count) }
    return norm
}

public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }
}

/// AdamW with decoupled weight decay on matrices only (norm gains and biases are not
/// decayed). Moments mirror the parameter layout.
public final class AdamW: @unchecked Sendable {
    // @unchecked: moment buffers are mutated only by `step`, called by the one trainer.
    public let config: AdamWConfig
    public let m: FloatBuffer
    public let v: FloatBuffer
    public private(set) var stepCount = 0
    private let decay: [Bool]   // per parameter: belongs to a matrix
    private let layout: ParameterLayout
    /// Per parameter: the share of the learning rate it moves by (1 unless `scale` set it).
    private var rates: [Float]

    public init(layout: ParameterLayout, config: AdamWConfig = AdamWConfig()) {
        self.config = config
        self.layout = layout
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        var d = [Bool](repeating: false, count: layout.count)
        for t in layout.tensors where t.isMatrix { for i in t.offset..<(t.offset + t.count) { d[i] = true } }
        decay = d
        rates = [Float](repeating: 1, count: layout.count)
    }

    /// Moves the tensors whose names start with one of `prefixes` by `share` of the
    /// learning rate from the next step on, weight decay included (0 holds them still; their
    /// moments keep following their gradients). Returns how many parameters that covers.
    @discardableResult
    public func scale(tensorsWithPrefixes prefixes: [String], by share: Float) -> Int {
        var covered = 0
        for t in layout.tensors where prefixes.contains(where: { t.name.hasPrefix($0) }) {
            for i in t.offset..<(t.offset + t.count) { rates[i] = share }
            covered += t.count
        }
        return covered
    }

    /// Restores optimiser state (e.g. from a checkpoint).
    public func restore(m: [Float], v: [Float], stepCount: Int) throws {
        guard m.count == self.m.count, v.count == self.v.count else {
            throw NeuralNetError("AdamW state has \(m.count)/\(v.count) values, expected \(self.m.count)")
        }
        for i in 0..<m.count { self.m[i] = m[i]; self.v[i] = v[i] }
        self.stepCount = stepCount
    }

    public func step(params: FloatBuffer, grads: FloatBuffer, learningRate lr: Float) {
        precondition(params.count == m.count && grads.count == m.count, "AdamW: buffer sizes differ from the layout")
        stepCount += 1
        let b1 = config.beta1, b2 = config.beta2
        let c1 = 1 - powf(b1, Float(stepCount)), c2 = 1 - powf(b2, Float(stepCount))
        let p = params.pointer, g = grads.pointer, mp = m.pointer, vp = v.pointer
        let eps = config.epsilon, wdc = config.weightDecay
        decay.withUnsafeBufferPointer { dm in
            rates.withUnsafeBufferPointer { rs in
                let dmp = dm.baseAddress!, rp = rs.baseAddress!
                parallelRanges(m.count, minPerThread: 65_536) { range in
                    for i in range {
                        let gi = g[i]
                        mp[i] = b1 * mp[i] + (1 - b1) * gi
                        vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                        let mhat = mp[i] / c1, vhat = vp[i] / c2
                        let wd = dmp[i] ? wdc * p[i] : 0
                        p[i] -= lr * rp[i] * (mhat / (vhat.squareRoot() + eps) + wd)
                    }
                }
            }
        }
    }
}

/// Linear warmup to maxLR, then cosine decay to minLR at totalSteps (constant after).
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var maxLR: Float
    public var minLR: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public init(maxLR: Float, minLR: Float, warmupSteps: Int, totalSteps: Int) {
        self.maxLR = maxLR; self.minLR = minLR; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    /// Learning rate of step `step` (0-based).
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return maxLR * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return minLR }
        let progress = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        return minLR + 0.5 * (maxLR - minLR) * (1 + cosf(Float.pi * progress))
    }
}
