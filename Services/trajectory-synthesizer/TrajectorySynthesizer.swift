import ArgumentParser
import BLASKernel
import ServiceRuntime
import Workers

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await TrajectorySynthesizerCommand.main()
    }
}

struct TrajectorySynthesizerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trajectory-synthesizer",
        abstract: "Builds SFT trajectories, RL prompts and evaluation suites from the knowledge and the data catalogue.")

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var settings: TrajectorySynthesizerConfiguration

    func run() async throws {
        let comparator = settings.makeComparator()
        try await ServiceLauncher.run(service: "trajectory-synthesizer", options: runtime) { context, client in
            try await TrajectorySynthesisService.run(context, client: client, comparator: comparator)
        }
    }
}
