import ArgumentParser
import Foundation
import Logging
import Store

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Database schema: apply migrations, show their state.",
        subcommands: [DBMigrateCommand.self, DBStatusCommand.self])
}

/// Where the database is: `--database-url`, else `DATABASE_URL`.
struct DatabaseURLOptions: ParsableArguments {
    @Option(name: .customLong("database-url"),
            help: "postgresql://user[:password]@host:port/dbname or a key=value string (default: $DATABASE_URL).")
    var databaseURL: String?

    func configuration() throws -> PostgresConfiguration {
        if let databaseURL { return try PostgresConfiguration(databaseURL) }
        return try PostgresConfiguration.fromEnvironment()
    }
}

struct DBMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending schema migrations (safe to run concurrently and repeatedly).")

    @OptionGroup var database: DatabaseURLOptions

    func run() async throws {
        let logger = Logger(label: "skinr1.db")
        let configuration = try database.configuration()
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        do {
            let report = try await Migrator(logger: logger).migrate(on: connection)
            await connection.close()
            if report.applied.isEmpty {
                print("schema up to date (\(report.alreadyApplied.count) migrations applied) at \(configuration)")
            } else {
                for migration in report.applied {
                    print("applied \(formatVersion(migration.version)) \(migration.name)")
                }
                print("schema up to date (\(report.alreadyApplied.count + report.applied.count) migrations applied) at \(configuration)")
            }
        } catch {
            await connection.close()
            throw error
        }
    }
}

struct DBStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the server version and applied and pending migrations.")

    @OptionGroup var database: DatabaseURLOptions

    func run() async throws {
        let logger = Logger(label: "skinr1.db")
        let configuration = try database.configuration()
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        let status: MigrationStatus
        do {
            status = try await Migrator(logger: logger).status(on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        print("database: \(configuration)")
        print("server:   PostgreSQL \(status.serverVersion)")
        print("applied:  \(status.applied.count)")
        let timestamp = ISO8601DateFormatter()
        for row in status.applied {
            var line = "  \(formatVersion(row.version)) \(row.name)  applied \(timestamp.string(from: row.appliedAt))  sha256 \(row.checksum.prefix(12))"
            if status.changed.contains(row.version) { line += "  CHANGED in this binary" }
            if status.unknown.contains(row) { line += "  (unknown to this binary)" }
            print(line)
        }
        print("pending:  \(status.pending.count)")
        for migration in status.pending {
            print("  \(formatVersion(migration.version)) \(migration.name)")
        }
    }
}

private func formatVersion(_ version: Int) -> String {
    let digits = String(version)
    return digits.count >= 4 ? digits : String(repeating: "0", count: 4 - digits.count) + digits
}
