import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks, reported as ratios measured in one run.",
        subcommands: [BenchBLAS.self, BenchStoreCommand.self, BenchBus.self, BenchModel.self, BenchVision.self, BenchLookup.self])
}
