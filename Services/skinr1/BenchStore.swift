import ArgumentParser
import Backoff
import Foundation
import Logging
import Store

/// COPY FROM STDIN against one INSERT per row, measured in the same run.
struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Rows/s writing metric samples with COPY vs one INSERT per row (private cluster unless a database is given).")

    @Option(help: "Metric rows to write with each method.")
    var rows: Int = 100_000

    @Option(name: .customLong("database-url"),
            help: "Database to measure against (default: $DATABASE_URL, else a private cluster in a temporary directory).")
    var databaseURL: String?

    func validate() throws {
        guard rows > 0 else { throw ValidationError("--rows must be positive, got \(rows)") }
    }

    func run() async throws {
        var logger = Logger(label: "skinr1.bench.store")
        logger.logLevel = .warning
        let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let url {
            try await measure(PostgresConfiguration(url), where: "the given database", logger: logger)
            return
        }
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-bench-\(UUID().uuidString.prefix(8))")
        let cluster = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        do {
            try await measure(PostgresConfiguration(cluster.databaseURL),
                              where: "a private cluster (PostgreSQL, fsync off)", logger: logger)
        } catch {
            try? await cluster.stop()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        try await cluster.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func measure(_ configuration: PostgresConfiguration, where place: String, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        do {
            try await Migrator(logger: logger).migrate(on: connection)
            let serverVersion = try await connection.query("SHOW server_version").first?.decode(at: 0, as: String.self) ?? "?"
            print("store bench: \(rows) metric rows per method into metric_samples, \(place), server \(serverVersion)")
            let runID = "bench-\(UUID().uuidString.lowercased())"
            let now = Date()
            let clock = ContinuousClock()

            let copyRun = runID + "-copy"
            let copyRows = (0..<rows).lazy.map { step -> [SQLValue?] in
                [.text(copyRun), .text("loss"), .int64(Int64(step)), .double(1.0 / Double(step + 1)), .timestamptz(now)]
            }
            var written = 0
            let copyTime = try await clock.measure {
                written = try await connection.copy(into: "metric_samples", columns: ["run_id", "name", "step", "value", "recorded_at"], rows: copyRows)
            }
            guard written == rows else {
                throw ValidationError("COPY reported \(written) rows, expected \(rows)")
            }

            let insertRun = runID + "-insert"
            let insertTime = try await clock.measure {
                for step in 0..<rows {
                    try await connection.execute("""
                        INSERT INTO metric_samples (run_id, name, step, value, recorded_at)
                        VALUES (\(insertRun), 'loss', \(step), \(1.0 / Double(step + 1)), \(now))
                        """)
                }
            }
            let counted = try await connection.query("""
                SELECT count(*) FILTER (WHERE run_id = \(copyRun)) AS copied, count(*) FILTER (WHERE run_id = \(insertRun)) AS inserted
                FROM metric_samples WHERE run_id IN (\(copyRun), \(insertRun))
                """)
            let copied = try counted.first?.decode("copied", as: Int.self) ?? 0
            let inserted = try counted.first?.decode("inserted", as: Int.self) ?? 0
            try await connection.execute("DELETE FROM metric_samples WHERE run_id IN (\(copyRun), \(insertRun))")
            await connection.close()
            guard copied == rows, inserted == rows else {
                throw ValidationError("row counts after the bench: copied \(copied), inserted \(inserted), expected \(rows) each")
            }

            let copyRate = Double(rows) / copyTime.seconds
            let insertRate = Double(rows) / insertTime.seconds
            print(String(format: "COPY FROM STDIN      %8d rows in %7.3f s = %10.0f rows/s", rows, copyTime.seconds, copyRate))
            print(String(format: "INSERT per row       %8d rows in %7.3f s = %10.0f rows/s (autocommit, one round trip each)", rows, insertTime.seconds, insertRate))
            print(String(format: "ratio COPY/INSERT    %.1fx", copyRate / insertRate))
        } catch {
            await connection.close()
            throw error
        }
    }
}
