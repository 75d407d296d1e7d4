import ArgumentParser
import ServiceRuntime

/// Settings of an evaluator (METHOD.md 7).
struct EvaluatorConfiguration: ParsableArguments, Sendable {
    @Option(help: "Evaluate RL checkpoints every N learner steps (the base and the SFT result always).")
    var every: Int = 50

    @Option(help: "Longest answer in tokens (greedy decoding).")
    var maxNewTokens: Int = 96

    @Option(help: "Evaluation items decoded together.")
    var batch: Int = 32

    @Option(help: "BLAS threads of this evaluator.")
    var blasThreads: Int = 1

    func validate() throws {
        guard every >= 1, maxNewTokens >= 1, batch >= 1, blasThreads >= 1 else {
            throw ValidationError("--every, --max-new-tokens, --batch and --blas-threads must be at least 1")
        }
    }
}
