import ArgumentParser
import BLASKernel
import NeuralNet
import Pipeline
import ServiceRuntime
import Workers

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await RolloutGeneratorCommand.main()
    }
}

struct RolloutGeneratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout-generator",
        abstract: "Samples groups of answers for RL prompts with the current policy (scale out: one consumer group).")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: RolloutGeneratorConfiguration

    func run() async throws {
        let settings = self.settings
        try await ServiceLauncher.run(service: "rollout-generator", options: runtime) { context, client in
            guard let runID = context.runtime.runID else {
                throw ConfigurationError("no run: pass --run-id or set SKINR1_RUN_ID")
            }
            NeuralNetThreads.setThreads(settings.threads)
            let record = try await RunRecord.load(id: runID, on: client)
            let worker = RolloutWorker(
                record: record, client: client, kafka: try PipelineServiceBus.configuration(for: context.runtime),
                settings: RolloutWorkerSettings(workerID: context.runtime.instanceID,
                                                promptsPerBatch: settings.promptsPerBatch,
                                                versionPoll: .milliseconds(settings.versionPollMilliseconds),
                                                prefetch: settings.prefetch),
                counters: context.counters, logger: context.logger)
            try await worker.run()
        }
    }
}
