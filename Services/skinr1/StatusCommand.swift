import ArgumentParser
import Logging
import ServiceRuntime
import Store

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Service health and training progress from the store.")

    @OptionGroup var database: DatabaseURLOptions

    @Option(help: "Seconds since the last heartbeat after which a process counts as stale.")
    var freshness: Double = 10

    func run() async throws {
        let logger = Logger(label: "skinr1.status")
        let client = PostgresClient(configuration: try database.configuration(), maxConnections: 1, logger: logger)
        do {
            let rows = try await ServiceHealth.all(client, freshness: .milliseconds(Int64(freshness * 1000)))
            print(ServiceHealth.table(rows))
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }
}
