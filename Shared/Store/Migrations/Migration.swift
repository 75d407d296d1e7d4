import ContentHash
/// One versioned schema change, kept in the source so every binary carries its schema.
///
/// Add a migration: create `MigrationNNNNWhat.swift` in this folder with a
/// `static let migrationNNNN = Migration(version: NNNN, name: "...", sql: """ ... """)`
/// in an `extension Migrations`, and append it to `Migrations.all`. Never edit a migration
/// that has shipped: its checksum is recorded and a change is rejected.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    /// One or more SQL statements, run in the migrating transaction.
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the SQL text, hex; recorded when applied and compared afterwards.
    public var checksum: String { SHA256.hexDigest(Array(sql.utf8)) }
}

/// The registry of every migration, in version order.
public enum Migrations {
    public static let all: [Migration] = [
        migration0001,
        migration0002,
        migration0003,
        migration0004,
        migration0005,
        migration0006,
        migration0007,
        migration0008,
        migration0009,
        migration0010,
    ]
}
