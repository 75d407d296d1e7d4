import ArgumentParser
import BLASKernel
import ServiceRuntime
import Workers

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
        abstract: "Trains the policy: tokenizer and base, SFT on trajectories, then GRPO on scored groups; publishes policy versions.")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: LearnerConfiguration

    func run() async throws {
        let settings = self.settings
        let options = LearnerOptions(pollWait: .milliseconds(settings.pollWaitMs), rlThreads: settings.rlThreads,
                                     maxTokenizerTexts: settings.tokenizerTexts, maxVisualCases: settings.visualCases)
        try await ServiceLauncher.run(service: "learner", options: runtime) { context, client in
            try await LearnerService.run(context: context, client: client, options: options,
                                         threads: settings.threads)
        }
    }
}
