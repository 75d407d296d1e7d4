import ArgumentParser
import Catalogue
import Domain
import Foundation
import Knowledge
import Logging
import Store

/// Loads the shipped knowledge, validates it and writes it into the knowledge tables.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Validate the shipped knowledge (taxonomy, DDx graph, rules, label maps) and store it.",
        discussion: """
            Applies pending migrations, then writes every knowledge table in one transaction. \
            Invalid knowledge is reported item by item and nothing is written. Running it again \
            with the same knowledge changes nothing.
            """)

    @OptionGroup var database: DatabaseURLOptions

    func run() async throws {
        let logger = Logger(label: "skinr1.seed")
        // Validation first: a broken knowledge file aborts before the database is touched.
        let knowledge: KnowledgeBase
        do {
            knowledge = try KnowledgeBase.load()
        } catch {
            throw ValidationError("the knowledge cannot be seeded:\n\(error)")
        }
        let configuration = try database.configuration()
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        let report: KnowledgeSeedReport
        do {
            try await Migrator(logger: logger).migrate(on: connection)
            report = try await KnowledgeSeeder(logger: logger).seed(knowledge, on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        print(report.unchanged ? "knowledge unchanged (file digests match) at \(configuration)"
                               : "knowledge seeded at \(configuration)")
        print("  taxonomy nodes: \(report.nodes) (\(report.leaves) leaves)")
        print("  DDx edges:      \(report.edges)")
        print("  rules:          \(report.rules)")
        print("  label entries:  \(report.labelEntries) over \(report.labelDatasets) datasets")
        for file in report.files {
            print("  \(file.file) v\(file.version) sha256 \(file.sha256.prefix(12))")
        }
    }
}
