import ArgumentParser
import ServiceRuntime

/// Process-local settings of an evaluator (METHOD.md 7). Which versions to evaluate, the
/// answer length and the suite sizes come from the run's configuration in the store.
struct EvaluatorConfiguration: ParsableArguments, Sendable {
    @Option(help: "Evaluation items decoded together.")
    var batch: Int = 32

    @Option(help: "Threads of this evaluator's numeric code (OpenBLAS and the model's loops).")
    var threads: Int = 1

    @Option(help: "Seconds between looks at the run's policy versions.")
    var pollSeconds: Double = 1

    func validate() throws {
        guard batch >= 1, threads >= 1 else {
            throw ValidationError("--batch and --threads must be at least 1")
        }
        guard pollSeconds > 0, pollSeconds.isFinite else { throw ValidationError("--poll-seconds must be positive") }
    }
}
