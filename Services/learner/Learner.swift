import ArgumentParser
import BLASKernel
import ServiceRuntime

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await LearnerCommand.main()
    }
}

struct LearnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learner",
        abstract: "Trains the policy: SFT on trajectories, then GRPO on scored groups; publishes policy versions.")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: LearnerConfiguration

    func run() async throws {
        let settings = self.settings
        try await ServiceLauncher.run(service: "learner", options: runtime) { context, _ in
            context.logger.info("configured", metadata: ["settings": "\(settings)"])
            try await ServiceLauncher.idleUntilShutdown(context)
        }
    }
}
