import ArgumentParser
import Logging
import ServiceRuntime
import Store

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "One screen from the monitoring views: services, run progress, rewards, workers, staleness, dead letters.")

    @OptionGroup var database: DatabaseURLOptions

    @Option(help: "The run to show (default: the newest).")
    var run: String?

    func run() async throws {
        let logger = Logger(label: "skinr1.status")
        let client = PostgresClient(configuration: try database.configuration(), maxConnections: 1, logger: logger)
        do {
            Console.line(try await RunStatus.screen(runID: run, client))
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }
}
