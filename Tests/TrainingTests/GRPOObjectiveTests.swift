import Testing
@testable import Training

@Suite("GRPO objective")
struct GRPOObjectiveTests {
    /// A small batch with varied advantages, lags and KL, in Double-friendly ranges.
    func batch(seed: UInt64) -> (logp: [[Float]], sequences: [GRPOSequence]) {
        var state = seed
        func uniform(_ low: Float, _ high: Float) -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return low + (high - low) * Float(state >> 40) / Float(1 << 24)
        }
        let lengths = [3, 5, 1, 4]
        let advantages = [1.2, -0.7, 0.0, -1.5]
        var logp: [[Float]] = []
        var sequences: [GRPOSequence] = []
        for (j, n) in lengths.enumerated() {
            let lp = (0..<n).map { _ in uniform(-3, -0.1) }
            logp.append(lp)
            sequences.append(GRPOSequence(
                advantage: advantages[j],
                behaviourLogProbs: lp.map { $0 + uniform(-0.5, 0.5) },
                proximalLogProbs: lp.map { $0 + uniform(-0.3, 0.3) },
                referenceLogProbs: lp.map { $0 + uniform(-0.4, 0.4) }))
        }
        return (logp, sequences)
    }

    @Test(arguments: StaleSampleObjective.allCases, LossAggregation.allCases)
    func gradientMatchesFiniteDifferences(_ objective: StaleSampleObjective, _ aggregation: LossAggregation) throws {
        let settings = GRPOSettings(objective: objective, aggregation: aggregation, clipEpsilon: 0.2, klBeta: 0.1)
        let (logp, sequences) = batch(seed: 42)
        let analytic = try GRPOObjective.evaluate(policyLogProbs: logp, sequences: sequences, settings: settings)
        var worst = 0.0
        let h: Float = 1e-3
        for j in logp.indices {
            for t in logp[j].indices {
                var plus = logp, minus = logp
                plus[j][t] += h
                minus[j][t] -= h
                let lossPlus = try GRPOObjective.evaluate(policyLogProbs: plus, sequences: sequences, settings: settings).loss
                let lossMinus = try GRPOObjective.evaluate(policyLogProbs: minus, sequences: sequences, settings: settings).loss
                let numeric = (lossPlus - lossMinus) / (2 * Double(h))
                let error = abs(numeric - Double(analytic.gradients[j][t])) / max(1e-2, abs(numeric))
                worst = max(worst, error)
            }
        }
        print("GRPO \(objective) \(aggregation): worst relative gradient error \(worst)")
        #expect(worst < 2e-2)
    }

    @Test func freshSamplesMakeBothObjectivesSynchronousGRPO() throws {
        // eta = 0, one update per batch: mu = prox = logp, so both reduce to synchronous GRPO.
        let logp: [[Float]] = [[-1, -2], [-0.5, -0.25, -3]]
        let sequences = logp.enumerated().map { j, lp in
            GRPOSequence(advantage: j == 0 ? 1 : -1, behaviourLogProbs: lp, proximalLogProbs: lp, referenceLogProbs: lp)
        }
        let behaviour = try GRPOObjective.evaluate(policyLogProbs: logp, sequences: sequences, settings: GRPOSettings(objective: .behaviour))
        let decoupled = try GRPOObjective.evaluate(policyLogProbs: logp, sequences: sequences, settings: GRPOSettings(objective: .decoupled))
        #expect(abs(behaviour.loss - decoupled.loss) < 1e-12)
        #expect(behaviour.gradients == decoupled.gradients)
        // Ratio 1, no KL: loss = -(mean over answers of A) = 0 here, gradient = -A / (G * T_j).
        #expect(abs(behaviour.loss) < 1e-12)
        #expect(abs(behaviour.gradients[0][0] - (-1.0 / 4)) < 1e-7)
        #expect(abs(behaviour.gradients[1][0] - (1.0 / 6)) < 1e-7)
        #expect(behaviour.statistics.clipFraction == 0)
        #expect(behaviour.statistics.klMean == 0)
        #expect(behaviour.statistics.ratioMean == 1)
    }

    @Test func clippedTokensCarryNoSurrogateGradient() throws {
        // rho = e^0.5 > 1.2 with a positive advantage: clipped, only the KL term remains (beta 0 here).
        let sequences = [GRPOSequence(advantage: 1, behaviourLogProbs: [-1.5], proximalLogProbs: [-1.5], referenceLogProbs: [-1])]
        let result = try GRPOObjective.evaluate(policyLogProbs: [[-1]], sequences: sequences,
                                                settings: GRPOSettings(objective: .behaviour, klBeta: 0))
        #expect(result.gradients[0][0] == 0)
        #expect(result.statistics.clipFraction == 1)
        #expect(abs(result.loss - (-1.2)) < 1e-9)
    }

    @Test func behaviourWeightIsTruncatedAtTheCap() throws {
        // prox / mu = e^2 > 2: the weight is capped at 2 and counted.
        let sequences = [GRPOSequence(advantage: 1, behaviourLogProbs: [-3], proximalLogProbs: [-1], referenceLogProbs: [-1])]
        let result = try GRPOObjective.evaluate(policyLogProbs: [[-1]], sequences: sequences,
                                                settings: GRPOSettings(objective: .decoupled, klBeta: 0, behaviourWeightCap: 2))
        #expect(result.statistics.truncatedWeightFraction == 1)
        #expect(abs(result.loss - (-2)) < 1e-9)
        #expect(abs(Double(result.gradients[0][0]) - (-2)) < 1e-6)
    }

    @Test func k3KLIsZeroAtTheReferenceAndPositiveElsewhere() throws {
        let settings = GRPOSettings(objective: .behaviour, klBeta: 1)
        let at = try GRPOObjective.evaluate(policyLogProbs: [[-1]], sequences: [
            GRPOSequence(advantage: 0, behaviourLogProbs: [-1], proximalLogProbs: nil, referenceLogProbs: [-1])], settings: settings)
        let away = try GRPOObjective.evaluate(policyLogProbs: [[-1]], sequences: [
            GRPOSequence(advantage: 0, behaviourLogProbs: [-1], proximalLogProbs: nil, referenceLogProbs: [-2])], settings: settings)
        #expect(at.statistics.klMean == 0)
        #expect(away.statistics.klMean > 0)
        #expect(away.loss > 0, "the KL penalty raises the loss")
    }

    @Test func malformedBatchesAreNamed() {
        let sequence = GRPOSequence(advantage: 1, behaviourLogProbs: [-1, -1], proximalLogProbs: nil, referenceLogProbs: [-1, -1])
        #expect(throws: GRPOError.missingProximal(sequence: 0)) {
            try GRPOObjective.evaluate(policyLogProbs: [[-1, -1]], sequences: [sequence], settings: GRPOSettings())
        }
        #expect(throws: GRPOError.lengthMismatch(sequence: 0, what: "behaviour", expected: 3, got: 2)) {
            try GRPOObjective.evaluate(policyLogProbs: [[-1, -1, -1]], sequences: [sequence],
                                       settings: GRPOSettings(objective: .behaviour))
        }
        #expect(throws: GRPOError.empty) {
            try GRPOObjective.evaluate(policyLogProbs: [[]], sequences: [
                GRPOSequence(advantage: 0, behaviourLogProbs: [], proximalLogProbs: [], referenceLogProbs: [])], settings: GRPOSettings())
        }
    }
}

@Suite("Staleness and admission")
struct StalenessTests {
    @Test func boundAdmitsLagsUpToEta() {
        let bound = StalenessBound(eta: 2)
        #expect(bound.admits(groupVersion: 5, learnerVersion: 7))
        #expect(!bound.admits(groupVersion: 4, learnerVersion: 7))
        #expect(bound.lag(groupVersion: 9, learnerVersion: 7) == 0)
        #expect(StalenessBound(eta: 0).admits(groupVersion: 3, learnerVersion: 3))
        #expect(!StalenessBound(eta: 0).admits(groupVersion: 2, learnerVersion: 3))
    }

    @Test func admissionWindowGrowsWithTheLearnerVersion() {
        let window = AdmissionWindow(bound: StalenessBound(eta: 1), groupsPerStep: 4)
        #expect(window.capacity(learnerVersion: 0) == 8)
        #expect(window.admits(ticket: 8, learnerVersion: 0))
        #expect(!window.admits(ticket: 9, learnerVersion: 0))
        #expect(window.admits(ticket: 9, learnerVersion: 1))
        #expect(window.capacity(learnerVersion: 10) == 48)
    }

    @Test func aWorkerBatchIsHalfTheWindowAtMost() {
        #expect(AdmissionWindow(bound: StalenessBound(eta: 1), groupsPerStep: 4).pipelinedBatch == 4)
        #expect(AdmissionWindow(bound: StalenessBound(eta: 1), groupsPerStep: 2).pipelinedBatch == 2)
        #expect(AdmissionWindow(bound: StalenessBound(eta: 0), groupsPerStep: 3).pipelinedBatch == 1)
        #expect(AdmissionWindow(bound: StalenessBound(eta: 0), groupsPerStep: 1).pipelinedBatch == 1)
        #expect(AdmissionWindow(bound: StalenessBound(eta: 3), groupsPerStep: 16).pipelinedBatch == 32)
    }

    @Test func lagSummary() {
        #expect(LagSummary([]) == nil)
        let summary = LagSummary([0, 1, 1, 2])
        #expect(summary?.min == 0 && summary?.max == 2 && summary?.mean == 1)
    }
}
