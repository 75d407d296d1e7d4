import ArgumentParser
import ServiceRuntime

/// Settings of a reward scorer (METHOD.md 5). The granularity normalisation is not a flag:
/// each item carries the one it was built with, so scorer and evaluator always agree.
struct RewardScorerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Reward rows written to the store per batch.")
    var rowBatch: Int = 64

    @Option(help: "Longest wait, in milliseconds, before a partial batch of reward rows is written.")
    var flushMilliseconds: Int = 500

    func validate() throws {
        guard rowBatch >= 1, flushMilliseconds >= 1 else {
            throw ValidationError("--row-batch and --flush-milliseconds must be at least 1")
        }
    }
}
