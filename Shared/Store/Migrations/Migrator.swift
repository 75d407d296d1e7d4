import Foundation
import Logging

/// A migration recorded in `schema_migrations`.
public struct AppliedMigration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let checksum: String
    public let appliedAt: Date
}

/// What `migrate` did.
public struct MigrationReport: Sendable {
    /// Migrations applied by this call, in order.
    public let applied: [Migration]
    /// Versions that were already applied before this call.
    public let alreadyApplied: [Int]
}

/// The database's schema state against this binary's registry.
public struct MigrationStatus: Sendable {
    public let serverVersion: String
    public let applied: [AppliedMigration]
    public let pending: [Migration]
    /// Applied versions this binary does not know (the database was migrated by a newer one).
    public let unknown: [AppliedMigration]
    /// Applied versions whose SQL in this binary differs from what was applied.
    public let changed: [Int]
}

/// Applies the versioned migrations of `Migrations.all` (or a given list).
///
/// All pending migrations run in one transaction that first takes a transaction-scoped
/// advisory lock, so processes migrating at the same time run one after the other and
/// the later ones find nothing to do. Each applied migration is recorded with the
/// checksum of its SQL; a migration whose SQL changed after it was applied is refused.
public struct Migrator: Sendable {
    /// Key of the advisory lock that serialises migrations ("skinr1mg" in ASCII).
    public static let advisoryLockKey: Int64 = 0x736b_696e_7231_6d67

    public let migrations: [Migration]
    let logger: Logger

    public init(migrations: [Migration] = Migrations.all, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Brings the schema up to date; a second call is a no-op.
    @discardableResult
    public func migrate(on connection: PostgresConnection) async throws -> MigrationReport {
        try validateRegistry()
        return try await connection.transaction { tx in
            _ = try await tx.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))")
            try await tx.executeScript("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     bigint      PRIMARY KEY,
                    name        text        NOT NULL,
                    checksum    text        NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )
                """)
            let applied = try await Self.readApplied(tx)
            let byVersion = Dictionary(uniqueKeysWithValues: applied.map { ($0.version, $0) })
            try checkChecksums(byVersion)
            let known = Set(migrations.map(\.version))
            for stranger in applied where !known.contains(stranger.version) {
                logger.warning("database has a migration this binary does not know; a newer binary applied it", metadata: [
                    StoreLogKey.migrationVersion: "\(stranger.version)", StoreLogKey.migrationName: "\(stranger.name)",
                ])
            }
            var done: [Migration] = []
            for migration in migrations where byVersion[migration.version] == nil {
                logger.info("applying migration", metadata: [
                    StoreLogKey.migrationVersion: "\(migration.version)", StoreLogKey.migrationName: "\(migration.name)",
                ])
                do {
                    try await tx.executeScript(migration.sql)
                } catch let error as PostgresError {
                    var wrapped = error
                    wrapped.code = .migration
                    wrapped.message = "migration \(migration.version) (\(migration.name)) failed: \(error.message)"
                    throw wrapped
                }
                try await tx.execute("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """)
                done.append(migration)
            }
            return MigrationReport(applied: done, alreadyApplied: applied.map(\.version))
        }
    }

    /// Brings the schema up to date on one of the client's connections.
    @discardableResult
    public func migrate(on client: PostgresClient) async throws -> MigrationReport {
        try await client.withConnection { try await migrate(on: $0) }
    }

    /// Applied, pending, unknown and changed migrations, and the server's version.
    public func status(on connection: PostgresConnection) async throws -> MigrationStatus {
        try validateRegistry()
        let serverVersion = try await connection.query("SHOW server_version").first?.decode(at: 0, as: String.self) ?? "unknown"
        let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
            .first?.decode("present", as: Bool.self) ?? false
        let applied = exists ? try await Self.readApplied(connection) : []
        let byVersion = Dictionary(uniqueKeysWithValues: applied.map { ($0.version, $0) })
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        return MigrationStatus(
            serverVersion: serverVersion,
            applied: applied,
            pending: migrations.filter { byVersion[$0.version] == nil },
            unknown: applied.filter { known[$0.version] == nil },
            changed: applied.compactMap { row in
                guard let migration = known[row.version], migration.checksum != row.checksum else { return nil }
                return row.version
            })
    }

    private static func readApplied(_ db: some PostgresQueryable) async throws -> [AppliedMigration] {
        try await db.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version").map { row in
            AppliedMigration(version: try row.decode("version"), name: try row.decode("name"),
                             checksum: try row.decode("checksum"), appliedAt: try row.decode("applied_at"))
        }
    }

    private func checkChecksums(_ applied: [Int: AppliedMigration]) throws {
        for migration in migrations {
            guard let row = applied[migration.version] else { continue }
            if row.checksum != migration.checksum {
                throw PostgresError(.migration, message: """
                    migration \(migration.version) (\(migration.name)) was applied with checksum \(row.checksum.prefix(12)) \
                    but this binary's SQL has checksum \(migration.checksum.prefix(12)): applied migrations must not be edited; \
                    add a new migration instead
                    """)
            }
        }
    }

    private func validateRegistry() throws {
        var previous = 0
        for migration in migrations {
            guard migration.version > previous else {
                throw PostgresError(.migration, message:
                    "migration registry out of order: version \(migration.version) (\(migration.name)) follows version \(previous); versions must be positive and strictly increasing")
            }
            guard !migration.name.isEmpty, !migration.sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw PostgresError(.migration, message: "migration \(migration.version) needs a name and SQL")
            }
            previous = migration.version
        }
    }
}
