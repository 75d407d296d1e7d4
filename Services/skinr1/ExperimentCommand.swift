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

    func validate() throws { try options.check() }

    func run() async throws {
        LoggingSetup.bootstrap(format: .human, level: .info)
        let logger = Logger(label: "skinr1.experiment")
        let signals = TerminationSignal()
        let ensemble = try await Ensemble(workdir: options.workdir, partitions: options.partitions, logger: logger)
        do {
            let first = try options.config(arm: .skinR1)
            try await ensemble.prepareData(seed: first.seed, scale: CorpusScale(rawValue: first.dataScale) ?? .small)
            let driver = RunDriver(ensemble: ensemble, options: options, signals: signals)
            var runIDs: [String] = []
            for arm in [RunArm.skinR1, .rlOnly] {
                let outcome = try await driver.run(try options.config(arm: arm))
                guard outcome == .finished else {
                    try await ensemble.tearDown()
                    throw ExitCode(outcome == .interrupted ? 130 : 3)
                }
                runIDs.append(outcome.runID)
            }
            Console.line("\n== ablation (\(options.profile)): base, SFT, RL without SFT, Skin-R1 at checkpoints")
            Console.line(EvaluationTable.render(try await EvaluationTable.load(runIDs: runIDs, on: ensemble.client)))
            try await ensemble.tearDown()
        } catch {
            try? await ensemble.tearDown()
            throw error
        }
    }
}
