import ArgumentParser
import BLASKernel

@main
enum Entry {
    static func main() async {
        // Choose the OpenBLAS kernel before anything else runs (may re-execute this process once).
        BLASKernelSelection.ensureSelected()
        await SkinR1.main()
    }
}

struct SkinR1: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skinr1",
        abstract: "Operate the Skin-R1 training ensemble: store, broker, data, training runs, benchmarks.",
        subcommands: [
            DBCommand.self,
            BrokerCommand.self,
            BusCommand.self,
            StatusCommand.self,
            UpCommand.self,
            ExperimentCommand.self,
            BenchCommand.self,
            RewardCommand.self,
            SeedCommand.self,
            DataCommand.self,
            EvalCommand.self,
        ]
    )
}
