import ArgumentParser
import ServiceRuntime

/// Process-local settings of the learner. Every training knob (stages, steps, learning
/// rates, objective, staleness bound, LoRA, checkpoints) comes from the run's `RunConfig`
/// in the store, so that every service of a run agrees on them.
struct LearnerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Threads of the numeric code (OpenBLAS and the model's loops) while the learner builds the base and runs SFT.")
    var threads: Int = 2

    @Option(help: "Threads of the numeric code during GRPO, when the rollout workers share the cores with the learner (on a machine of its own, give the learner its cores).")
    var rlThreads: Int = 1

    @Option(help: "Longest wait of one topic poll in milliseconds (bounds how fast shutdown is noticed).")
    var pollWaitMs: Int = 200

    @Option(help: "Texts the tokenizer learns from at most.")
    var tokenizerTexts: Int = 4000

    @Option(help: "Case images the base pretraining corpus is built from at most.")
    var visualCases: Int = 1500

    func validate() throws {
        guard threads >= 1, rlThreads >= 1 else {
            throw ValidationError("--threads and --rl-threads must be at least 1, not \(threads) and \(rlThreads)")
        }
        guard pollWaitMs >= 10 else { throw ValidationError("--poll-wait-ms must be at least 10, not \(pollWaitMs)") }
        guard tokenizerTexts >= 1, visualCases >= 1 else {
            throw ValidationError("--tokenizer-texts and --visual-cases must be at least 1")
        }
    }
}
