import ArgumentParser
import BLASKernel
import ServiceRuntime

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
        try await ServiceLauncher.run(service: "rollout-generator", options: runtime) { context, _ in
            context.logger.info("configured", metadata: ["settings": "\(settings)"])
            try await ServiceLauncher.idleUntilShutdown(context)
        }
    }
}
