import ArgumentParser
import BLASKernel




@main
struct SkinR1: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skinr1",
        abstract: "Operate the Skin-R1 training ensemble: store, broker, data, training runs, benchmarks.",
        subcommands: [
            DBCommand.self,
            BrokerCommand.self,
            BusCommand.self,
            StatusCommand.self,
            BenchCommand.self,
        ]
    )
}
