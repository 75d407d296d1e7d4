import ArgumentParser
import BLASKernel
import ServiceRuntime
import Workers

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await EvaluatorCommand.main()
    }
}

struct EvaluatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluator",
        abstract: "Evaluates policy versions on every evaluation suite with greedy decoding.")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: EvaluatorConfiguration

    func run() async throws {
        let settings = self.settings
        try await ServiceLauncher.run(service: "evaluator", options: runtime) { context, client in
            try await EvaluationService.run(context, client: client, batchSize: settings.batch,
                                            threads: settings.threads,
                                            poll: .milliseconds(Int64(settings.pollSeconds * 1000)))
        }
    }
}
