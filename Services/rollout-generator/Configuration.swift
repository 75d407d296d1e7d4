import ArgumentParser
import ServiceRuntime

/// Settings of a rollout worker (METHOD.md 6.2 and 6.3).
struct RolloutGeneratorConfiguration: ParsableArguments, Sendable {
    @Option(help: "Answers sampled per prompt (K, the GRPO group size).")
    var groupSize: Int = 4

    @Option(help: "Sampling temperature.")
    var temperature: Double = 1.0

    @Option(help: "Longest answer in tokens.")
    var maxNewTokens: Int = 96

    @Option(help: "Prompts sampled together in one batch.")
    var promptsPerBatch: Int = 4

    @Option(help: "Staleness bound eta: versions a group may lag the learner.")
    var stalenessBound: Int = 1

    @Option(help: "Groups the learner consumes per step (sets the admission window).")
    var groupsPerStep: Int = 4

    @Option(help: "BLAS threads of this worker.")
    var blasThreads: Int = 1

    func validate() throws {
        guard groupSize >= 2 else { throw ValidationError("--group-size must be at least 2 (advantages need a group)") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be >= 0") }
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard stalenessBound >= 0 else { throw ValidationError("--staleness-bound must be >= 0") }
        guard groupsPerStep >= 1, promptsPerBatch >= 1, blasThreads >= 1 else {
            throw ValidationError("--groups-per-step, --prompts-per-batch and --blas-threads must be at least 1")
        }
    }
}
