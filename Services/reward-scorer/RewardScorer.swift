import ArgumentParser
import BLASKernel
import ServiceRuntime

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
        try await ServiceLauncher.run(service: "reward-scorer", options: runtime) { context, _ in
            context.logger.info("configured", metadata: ["settings": "\(settings)"])
            try await ServiceLauncher.idleUntilShutdown(context)
        }
    }
}
