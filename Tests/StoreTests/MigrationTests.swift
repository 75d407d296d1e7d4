import Foundation
import Logging
import Testing
@testable import Store

@Suite("Migrations", .privateCluster, .timeLimit(.minutes(5)))
struct MigrationTests {
    let logger = TestCluster.logger

    private func schemaSnapshot(_ db: PostgresConnection) async throws -> [String] {
        try await db.query("""
            SELECT table_name || '.' || column_name || ':' || data_type AS c
            FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1
            """).map { try $0.decode("c", as: String.self) }
    }

    @Test func migratingTwiceIsANoOp() async throws {
        try await withFreshConnection { db in
            let migrator = Migrator(logger: logger)
            let first = try await migrator.migrate(on: db)
            #expect(first.applied.map(\.version) == Migrations.all.map(\.version))
            let schema = try await schemaSnapshot(db)
            #expect(schema.contains("dead_letters.offset:bigint"))
            #expect(schema.contains("blobs.data:bytea"))
            #expect(schema.contains("service_heartbeats.counters:jsonb"))
            #expect(schema.contains("metric_samples.value:double precision"))

            let second = try await migrator.migrate(on: db)
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == Migrations.all.map(\.version))
            #expect(try await schemaSnapshot(db) == schema)
            let recorded = try await db.query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            #expect(recorded.count == Migrations.all.count)
            #expect(try recorded.first?.decode("checksum", as: String.self) == Migrations.all.first?.checksum)

            let status = try await migrator.status(on: db)
            #expect(status.pending.isEmpty && status.changed.isEmpty && status.unknown.isEmpty)
            #expect(status.serverVersion.hasPrefix("1"))
        }
    }

    @Test func statusListsPendingMigrationsBeforeMigrating() async throws {
        try await withFreshConnection { db in
            let status = try await Migrator(logger: logger).status(on: db)
            #expect(status.applied.isEmpty)
            #expect(status.pending.map(\.version) == Migrations.all.map(\.version))
        }
    }

    @Test func changedChecksumOfAnAppliedMigrationIsRejected() async throws {
        try await withFreshConnection { db in
            let original = [Migration(version: 1, name: "first", sql: "CREATE TABLE a (x int);")]
            try await Migrator(migrations: original, logger: logger).migrate(on: db)
            let edited = [Migration(version: 1, name: "first", sql: "CREATE TABLE a (x bigint);")]
            do {
                try await Migrator(migrations: edited, logger: logger).migrate(on: db)
                Issue.record("edited migration accepted")
            } catch let error as PostgresError {
                #expect(error.code == .migration)
                #expect(error.message.contains("migration 1 (first)") && error.message.contains("checksum"), "\(error)")
            }
            let status = try await Migrator(migrations: edited, logger: logger).status(on: db)
            #expect(status.changed == [1])
        }
    }

    @Test func failingMigrationRollsBackWhole() async throws {
        try await withFreshConnection { db in
            let migrations = [
                Migration(version: 1, name: "good", sql: "CREATE TABLE good (x int);"),
                Migration(version: 2, name: "bad", sql: "CREATE TABLE bad (x no_such_type);"),
            ]
            do {
                try await Migrator(migrations: migrations, logger: logger).migrate(on: db)
                Issue.record("bad migration applied")
            } catch let error as PostgresError {
                #expect(error.message.contains("migration 2 (bad) failed"), "\(error)")
            }
            #expect(try await db.query("SELECT to_regclass('good') IS NULL AS gone").first?.decode("gone", as: Bool.self) == true)
        }
    }

    @Test func registryOutOfOrderIsRejected() async throws {
        try await withFreshConnection { db in
            let migrations = [Migration(version: 2, name: "b", sql: "SELECT 1"), Migration(version: 1, name: "a", sql: "SELECT 1")]
            await #expect(throws: PostgresError.self) { try await Migrator(migrations: migrations, logger: logger).migrate(on: db) }
        }
    }

    @Test func concurrentMigratorsInOneProcessApplyOnce() async throws {
        let url = try await TestCluster.freshDatabase()
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let db = try await PostgresConnection.connect(url: url, logger: logger)
                    try await Migrator(logger: logger).migrate(on: db)
                    await db.close()
                }
            }
            try await group.waitForAll()
        }
        let db = try await PostgresConnection.connect(url: url, logger: logger)
        #expect(try await db.query("SELECT count(*) AS n FROM schema_migrations").first?.decode("n", as: Int.self) == Migrations.all.count)
        await db.close()
    }

    /// The `skinr1` executable built alongside the tests (or `SKINR1_BIN`).
    private func skinr1Binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["SKINR1_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // Inside an .xctest bundle directory (macOS layout), step out of it.
        while directory.pathComponents.contains(where: { $0.hasSuffix(".xctest") }) {
            directory = directory.deletingLastPathComponent()
        }
        let binary = directory.appendingPathComponent("skinr1")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path),
                     "skinr1 not found at \(binary.path): build it (swift build) or set SKINR1_BIN")
        return binary
    }

    @Test func twoProcessesMigratingAtOnceBothSucceed() async throws {
        let binary = try skinr1Binary()
        let url = try await TestCluster.freshDatabase()
        let outputs = try await withThrowingTaskGroup(of: (Int32, String).self) { group in
            for _ in 0..<2 {
                group.addTask { try await runToEnd(binary, ["db", "migrate"], environment: ["DATABASE_URL": url]) }
            }
            var results: [(Int32, String)] = []
            for try await result in group { results.append(result) }
            return results
        }
        for (status, output) in outputs {
            #expect(status == 0, "skinr1 db migrate failed: \(output)")
            #expect(output.contains("schema up to date"), "\(output)")
        }
        // Exactly one of them applied migration 1.
        #expect(outputs.filter { $0.1.contains("applied 0001 init") }.count == 1)
        let db = try await PostgresConnection.connect(url: url, logger: logger)
        let rows = try await db.query("SELECT version, count(*) OVER () AS n FROM schema_migrations ORDER BY version")
        #expect(rows.count == Migrations.all.count)
        await db.close()
    }
}

/// Runs a program to its end on a dispatch thread (waiting blocks, so not on the
/// cooperative pool) and returns its exit status and combined output.
func runToEnd(_ program: URL, _ arguments: [String], environment extra: [String: String]) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = program
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
        }
    }
}
