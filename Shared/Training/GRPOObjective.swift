/// The GRPO objective with both stale-sample corrections (METHOD.md 6.2 and 6.3), as plain
/// arithmetic over per-token log-probabilities: the loss and its gradient with respect to
/// the current policy's log-probabilities, which the network then back-propagates.
///
/// Legend: j indexes answers (sequences), t their response tokens.
///   logp   log pi_theta(y_t)   current policy (has gradient)
///   mu     behaviour log-prob  policy that sampled the answer (travels with the rollout)
///   prox   proximal log-prob   learner weights at the start of the step (no gradient)
///   ref    reference log-prob  merged SFT model pi_ref

/// Which policy the clipped ratio is centred on.
public enum StaleSampleObjective: String, Sendable, Codable, CaseIterable {
    /// pi_old := mu (the behaviour policy). Fragile when lag grows.
    case behaviour
    /// pi_old := pi_prox, each token weighted by min(pi_prox / mu, cap) (AReaL's decoupled objective).
    case decoupled
}

/// How token terms are averaged into the loss.
public enum LossAggregation: String, Sendable, Codable, CaseIterable {
    /// Mean over answers of each answer's token mean (METHOD.md 6.2).
    case sequenceMean = "sequence-mean"
    /// Mean over every response token of the batch.
    case token
}

public struct GRPOSettings: Sendable, Equatable {
    public var objective: StaleSampleObjective
    public var aggregation: LossAggregation
    /// Clip range epsilon of the ratio (paper: 0.2).
    public var clipEpsilon: Double
    /// Weight beta of the k3 KL to the reference.
    public var klBeta: Double
    /// Cap of the behaviour weight pi_prox / mu (decoupled only).
    public var behaviourWeightCap: Double

    public init(objective: StaleSampleObjective = .decoupled, aggregation: LossAggregation = .sequenceMean,
                clipEpsilon: Double = 0.2, klBeta: Double = 0.04, behaviourWeightCap: Double = 2.0) {
        self.objective = objective
        self.aggregation = aggregation
        self.clipEpsilon = clipEpsilon
        self.klBeta = klBeta
        self.behaviourWeightCap = behaviourWeightCap
    }
}

/// One answer of a scored group, as the learner sees it.
public struct GRPOSequence: Sendable, Equatable {
    /// Group-normalised advantage A_j (METHOD.md 6.2).
    public var advantage: Double
    /// mu: the sampling policy's log-probabilities of the answer's tokens.
    public var behaviourLogProbs: [Float]
    /// pi_prox's log-probabilities (required by the decoupled objective).
    public var proximalLogProbs: [Float]?
    /// pi_ref's log-probabilities.
    public var referenceLogProbs: [Float]

    public init(advantage: Double, behaviourLogProbs: [Float], proximalLogProbs: [Float]?, referenceLogProbs: [Float]) {
        self.advantage = advantage
        self.behaviourLogProbs = behaviourLogProbs
        self.proximalLogProbs = proximalLogProbs
        self.referenceLogProbs = referenceLogProbs
    }
}

/// What a step reports besides the loss.
public struct GRPOStatistics: Sendable, Equatable {
    public var tokens: Int
    /// Share of tokens whose clipped branch was taken (gradient zero).
    public var clipFraction: Double
    /// Mean k3 KL to the reference per token.
    public var klMean: Double
    /// Mean ratio rho.
    public var ratioMean: Double
    /// Share of tokens whose behaviour weight hit the cap (decoupled only).
    public var truncatedWeightFraction: Double
}

public struct GRPOResult: Sendable {
    public var loss: Double
    /// dLoss / dlogp for every token of every sequence, shaped like the inputs.
    public var gradients: [[Float]]
    public var statistics: GRPOStatistics
}

public enum GRPOError: Error, Equatable, CustomStringConvertible {
    case lengthMismatch(sequence: Int, what: String, expected: Int, got: Int)
    case missingProximal(sequence: Int)
    case empty

    public var description: String {
        switch self {
        case let .lengthMismatch(sequence, what, expected, got):
            "sequence \(sequence): \(what) has \(got) log-probabilities, expected \(expected) (one per response token)"
        case let .missingProximal(sequence):
            "sequence \(sequence): the decoupled objective needs the proximal policy's log-probabilities"
        case .empty:
            "a GRPO batch needs at least one response token"
        }
    }
}

public enum GRPOObjective {
    /// Loss = - aggregate over tokens of (w * min(rho A, clip(rho) A) - beta * KL_k3)   (METHOD.md eq. 3-4).
    public static func evaluate(policyLogProbs: [[Float]], sequences: [GRPOSequence],
                                settings: GRPOSettings) throws(GRPOError) -> GRPOResult {
        guard policyLogProbs.count == sequences.count else {
            throw .lengthMismatch(sequence: 0, what: "the batch", expected: sequences.count, got: policyLogProbs.count)
        }
        let totalTokens = policyLogProbs.reduce(0) { $0 + $1.count }
        guard totalTokens > 0 else { throw .empty }
        let answersWithTokens = policyLogProbs.filter { !$0.isEmpty }.count
        let eps = settings.clipEpsilon
        var loss = 0.0
        var gradients: [[Float]] = []
        gradients.reserveCapacity(sequences.count)
        var clipped = 0, truncated = 0
        var klSum = 0.0, ratioSum = 0.0

        for (j, sequence) in sequences.enumerated() {
            let logp = policyLogProbs[j]
            let count = logp.count
            guard sequence.behaviourLogProbs.count == count else {
                throw .lengthMismatch(sequence: j, what: "behaviour", expected: count, got: sequence.behaviourLogProbs.count)
            }
            guard sequence.referenceLogProbs.count == count else {
                throw .lengthMismatch(sequence: j, what: "reference", expected: count, got: sequence.referenceLogProbs.count)
            }
            let anchor: [Float]
            switch settings.objective {
            case .behaviour:
                anchor = sequence.behaviourLogProbs
            case .decoupled:
                guard let prox = sequence.proximalLogProbs else { throw .missingProximal(sequence: j) }
                guard prox.count == count else {
                    throw .lengthMismatch(sequence: j, what: "proximal", expected: count, got: prox.count)
                }
                anchor = prox
            }
            // Each token's share of the loss under the chosen aggregation.
            let scale: Double = switch settings.aggregation {
            case .sequenceMean: count == 0 ? 0 : 1 / (Double(answersWithTokens) * Double(count))
            case .token: 1 / Double(totalTokens)
            }
            let a = sequence.advantage
            var grad = [Float](repeating: 0, count: count)
            for t in 0..<count {
                let lp = Double(logp[t])
                let rho = (lp - Double(anchor[t])).exp
                var weight = 1.0
                if settings.objective == .decoupled, let prox = sequence.proximalLogProbs {
                    let raw = (Double(prox[t]) - Double(sequence.behaviourLogProbs[t])).exp
                    if raw > settings.behaviourWeightCap { truncated += 1 }
                    weight = min(raw, settings.behaviourWeightCap)
                }
                let unclipped = rho * a
                let clippedValue = min(max(rho, 1 - eps), 1 + eps) * a
                let surrogate = min(unclipped, clippedValue)
                // The clipped branch is active (no gradient) when it is strictly the smaller one.
                let clipActive = clippedValue < unclipped
                if clipActive { clipped += 1 }
                let d = Double(sequence.referenceLogProbs[t]) - lp
                let kl = d.exp - d - 1
                let term = weight * surrogate - settings.klBeta * kl
                loss -= scale * term
                // d term / d lp: surrogate' = rho * A on the unclipped branch; KL' = 1 - exp(ref - lp).
                let dSurrogate = clipActive ? 0 : unclipped
                let dTerm = weight * dSurrogate - settings.klBeta * (1 - d.exp)
                grad[t] = Float(-scale * dTerm)
                klSum += kl
                ratioSum += rho
            }
            gradients.append(grad)
        }
        let n = Double(totalTokens)
        return GRPOResult(
            loss: loss, gradients: gradients,
            statistics: GRPOStatistics(
                tokens: totalTokens, clipFraction: Double(clipped) / n, klMean: klSum / n, ratioMean: ratioSum / n,
                truncatedWeightFraction: settings.objective == .decoupled ? Double(truncated) / n : 0))
    }
}

extension Double {
    fileprivate var exp: Double { _exp(self) }
}

#if canImport(Glibc)
import Glibc
private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Foundation
private func _exp(_ x: Double) -> Double { Foundation.exp(x) }
#endif
