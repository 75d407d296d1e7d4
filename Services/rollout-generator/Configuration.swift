import ArgumentParser
import ServiceRuntime
import Workers

/// Process-local settings of a rollout worker. The training knobs (K, temperature, answer
/// length, staleness bound, groups per step) are the run's `RunConfig`, shared by every
/// service of the run, so they are not flags here.
struct RolloutGeneratorConfiguration: ParsableArguments, Sendable {
    @Option(help: "Prompts sampled together in one batch (K answers each).")
    var promptsPerBatch: Int = 4

    @Option(help: "How often, in milliseconds, the newest policy version is looked up.")
    var versionPollMilliseconds: Int = 50

    @Option(help: "Prompts the consumer may hold ahead of sampling (at least 8 per partition of the prompts topic, so that partitions are read in turn).")
    var prefetch: Int = PromptOrder.workerPrefetch

    @Option(help: "Threads of this worker's numeric code (OpenBLAS and the model's loops); 1 suits workers that share the cores with the learner.")
    var threads: Int = 1

    func validate() throws {
        guard promptsPerBatch >= 1, versionPollMilliseconds >= 1, prefetch >= 1, threads >= 1 else {
            throw ValidationError("--prompts-per-batch, --version-poll-milliseconds, --prefetch and --threads must be at least 1")
        }
    }
}
