import ArgumentParser
import DataSynth
import Foundation
import Logging
import Pipeline
import ServiceRuntime
import Workers

struct ExperimentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment", abstract: "Experiments over several runs on one database and broker.",
        subcommands: [AblationCommand.self])
}

/// The paper's ablation (METHOD.md 7): Skin-R1 (SFT + RL) against RL without SFT, both from the
/// same base, evaluated on every suite; prints one table in the shape of the paper's Tables 4-5.
struct AblationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablation",
        abstract: "Run the Skin-R1 arm and the RL-without-SFT arm and print one comparison table.")

    @OptionGroup var options: RunOptions

    @Option(help: "Run both arms this many times (same seed, base and SFT; RL differs with the timing of the asynchronous pipeline) and print how far each model's accuracy moves between repeats.")
    var repeats: Int = 1

    func validate() throws {
        try options.check()
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, not \(repeats)") }
    }

    func run() async throws {
        LoggingSetup.bootstrap(format: .human, level: .info)
        let logger = Logger(label: "skinr1.experiment")
        let signals = TerminationSignal()
        let ensemble = try await Ensemble(workdir: options.workdir, partitions: options.partitions, logger: logger)
        do {
            let first = try options.config(arm: .skinR1)
            try await ensemble.prepareData(seed: first.seed, scale: CorpusScale(rawValue: first.dataScale) ?? .small)
            let driver = RunDriver(ensemble: ensemble, options: options, signals: signals)
            var repeated: [[EvaluationResultRow]] = []
            for index in 1...repeats {
                var runIDs: [String] = []
                for arm in [RunArm.skinR1, .rlOnly] {
                    let outcome = try await driver.run(try options.config(arm: arm))
                    guard outcome == .finished else {
                        try await ensemble.tearDown()
                        throw ExitCode(outcome == .interrupted ? 130 : 3)
                    }
                    runIDs.append(outcome.runID)
                }
                let rows = try await EvaluationTable.load(runIDs: runIDs, on: ensemble.client)
                repeated.append(rows)
                let which = repeats > 1 ? ", repeat \(index) of \(repeats)" : ""
                Console.line("\n== ablation (\(options.profile)\(which)): base, SFT, RL without SFT, Skin-R1 at checkpoints")
                Console.line(EvaluationTable.render(rows))
            }
            if repeats > 1 {
                Console.line("\n== ablation (\(options.profile)): spread over \(repeats) repeats")
                Console.line(EvaluationTable.spread(repeated))
            }
            try await ensemble.tearDown()
        } catch {
            try? await ensemble.tearDown()
            throw error
        }
    }
}
