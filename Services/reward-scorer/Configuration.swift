import ArgumentParser
import ServiceRuntime

/// Settings of a reward scorer (METHOD.md 5).
struct RewardScorerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Reward rows written to the store per batch.")
    var rowBatch: Int = 64

    @Option(help: "Longest wait, in milliseconds, before a partial batch of reward rows is written.")
    var flushMilliseconds: Int = 500

    @Option(help: "Granularity normalisation: best-available (0.75 i / i_max) or path-length (0.75 i / L).")
    var granularity: String = "best-available"

    func validate() throws {
        guard rowBatch >= 1, flushMilliseconds >= 1 else {
            throw ValidationError("--row-batch and --flush-milliseconds must be at least 1")
        }
        guard ["best-available", "path-length"].contains(granularity) else {
            throw ValidationError("--granularity must be best-available or path-length, not '\(granularity)'")
        }
    }
}
