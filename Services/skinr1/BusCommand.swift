import ArgumentParser

struct BusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "Produce and consume test traffic on the bus.",
        subcommands: [])
}
