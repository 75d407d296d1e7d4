import ArgumentParser
import BLASKernel
import ServiceRuntime
import Workers

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await RewardScorerCommand.main()
    }
}

struct RewardScorerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward-scorer",
        abstract: "Scores rollout groups with the taxonomy-aware reward (scale out: one consumer group).")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: RewardScorerConfiguration

    func run() async throws {
        let settings = self.settings
        try await ServiceLauncher.run(service: "reward-scorer", options: runtime) { context, client in
            guard let runID = context.runtime.runID else {
                throw ConfigurationError("no run: pass --run-id or set SKINR1_RUN_ID")
            }
            let scorer = ScoringWorker(
                runID: runID, client: client, kafka: try PipelineServiceBus.configuration(for: context.runtime),
                settings: ScoringWorkerSettings(scorerID: context.runtime.instanceID, rowBatch: settings.rowBatch,
                                                flushInterval: .milliseconds(settings.flushMilliseconds)),
                counters: context.counters, logger: context.logger)
            try await scorer.run()
        }
    }
}
