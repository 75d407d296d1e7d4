import ArgumentParser
import ServiceRuntime

/// Settings of the learner (METHOD.md 6).
struct LearnerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Stages to run: sft, grpo, or sft+grpo.")
    var stages: String = "sft+grpo"

    @Option(help: "SFT epochs over the trajectories.")
    var sftEpochs: Int = 4

    @Option(help: "SFT learning rate.")
    var sftLearningRate: Double = 3e-4

    @Option(help: "GRPO learning rate.")
    var rlLearningRate: Double = 1e-4

    @Option(help: "GRPO steps to run.")
    var rlSteps: Int = 100

    @Option(help: "Scored groups per GRPO step.")
    var groupsPerStep: Int = 4

    @Option(help: "Staleness bound eta: groups lagging more versions are dropped and counted.")
    var stalenessBound: Int = 1

    @Option(help: "Stale-sample objective: decoupled (proximal clip + truncated behaviour weight) or behaviour (clip around the behaviour policy).")
    var objective: String = "decoupled"

    @Option(help: "Cap of the behaviour weight pi_prox / mu in the decoupled objective.")
    var behaviourWeightCap: Double = 2.0

    @Option(help: "Clip range epsilon of the ratio.")
    var clipEpsilon: Double = 0.2

    @Option(help: "Weight beta of the k3 KL to the reference.")
    var klBeta: Double = 0.04

    @Option(help: "Loss aggregation: sequence-mean (mean over answers of token means) or token (over all tokens).")
    var aggregation: String = "sequence-mean"

    @Flag(help: "Skip groups whose rewards are all equal (they carry no advantage).")
    var skipZeroVariance = false

    @Option(help: "Steps between checkpoints.")
    var checkpointEvery: Int = 10

    @Option(help: "LoRA rank.")
    var loraRank: Int = 8

    @Option(help: "LoRA alpha.")
    var loraAlpha: Double = 16

    @Option(help: "LoRA dropout.")
    var loraDropout: Double = 0.05

    @Option(help: "BLAS threads of the learner.")
    var blasThreads: Int = 1

    func validate() throws {
        guard ["sft", "grpo", "sft+grpo"].contains(stages) else {
            throw ValidationError("--stages must be sft, grpo or sft+grpo, not '\(stages)'")
        }
        guard ["decoupled", "behaviour"].contains(objective) else {
            throw ValidationError("--objective must be decoupled or behaviour, not '\(objective)'")
        }
        guard ["sequence-mean", "token"].contains(aggregation) else {
            throw ValidationError("--aggregation must be sequence-mean or token, not '\(aggregation)'")
        }
        guard sftEpochs >= 0, rlSteps >= 0, groupsPerStep >= 1, stalenessBound >= 0, checkpointEvery >= 1, loraRank >= 1 else {
            throw ValidationError("epochs, steps, bound must be >= 0; groups per step, checkpoint interval and LoRA rank >= 1")
        }
        guard clipEpsilon > 0, clipEpsilon < 1, behaviourWeightCap >= 1, klBeta >= 0,
              (0..<1).contains(loraDropout), blasThreads >= 1 else {
            throw ValidationError("need 0 < clip epsilon < 1, behaviour weight cap >= 1, KL beta >= 0, 0 <= LoRA dropout < 1, BLAS threads >= 1")
        }
    }
}
