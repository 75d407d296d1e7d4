import Foundation
@testable import NeuralNet

/// Relative error with an absolute floor, so that tiny gradients compare on absolute terms.
func relativeError(_ a: Double, _ b: Double, floor: Double = 1e-3) -> Double {
    abs(a - b) / max(abs(a) + abs(b), floor)
}

/// A deterministic random batch for a model config.
func randomBatch(_ cfg: ModelConfig, b: Int, t: Int, seed: UInt64) -> PolicyBatch {
    var rng = SeededGenerator(seed: seed)
    let r = cfg.imageSize
    let images = (0..<(b * r * r * 3)).map { _ in rng.nextUniform() * 2 - 1 }
    let tokens = (0..<(b * t)).map { _ in Int32(rng.next() % UInt64(cfg.vocabSize)) }
    return PolicyBatch(images: images, tokens: tokens, batchSize: b, length: t)
}

func randomFloats(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in (rng.nextUniform() * 2 - 1) * scale }
}

/// Central finite differences of `loss` with respect to buffer entries `indices`,
/// compared with `analytic`. Richardson extrapolation of the steps eps and eps/2 cancels
/// the eps^2 term, so that the check sees the model's curvature less than its rounding.
/// Returns the worst relative error and where it occurred.
func finiteDifferenceCheck(buffer: UnsafeMutablePointer<Float>, indices: [Int], analytic: (Int) -> Double,
                           eps: Float, floor: Double = 1e-2, loss: () throws -> Double) rethrows -> (worst: Double, at: Int) {
    var worst = 0.0, at = -1
    func central(_ i: Int, _ h: Float) throws -> Double {
        let old = buffer[i]
        buffer[i] = old + h
        let lp = try loss()
        buffer[i] = old - h
        let lm = try loss()
        buffer[i] = old
        return (lp - lm) / (Double(old + h) - Double(old - h))
    }
    for i in indices {
        let d1 = try central(i, eps), d2 = try central(i, eps / 2)
        let numeric = (4 * d2 - d1) / 3
        let err = relativeError(analytic(i), numeric, floor: floor)
        if err > worst { worst = err; at = i }
    }
    return (worst, at)
}

/// Up to `k` indices of a tensor: the largest gradients plus a few random entries.
func sampleIndices(_ spec: TensorSpec, grads: UnsafePointer<Float>, k: Int, rng: inout SeededGenerator) -> [Int] {
    let range = Array(spec.offset..<(spec.offset + spec.count))
    let top = range.sorted { abs(grads[$0]) > abs(grads[$1]) }.prefix(k / 2)
    var picked = Set(top)
    while picked.count < min(k, range.count) { picked.insert(range[Int(rng.next() % UInt64(range.count))]) }
    return Array(picked).sorted()
}
