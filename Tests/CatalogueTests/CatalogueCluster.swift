import Logging
import Store
import TestSupport
import Testing

/// The catalogue tests' private PostgreSQL cluster (TestSupport's `SharedCluster`); each
/// test takes a fresh migrated database in it.
enum CatalogueCluster {
    static let shared = SharedCluster(label: "catalogue")
    static var logger: Logger { shared.logger }
}

extension Trait where Self == SharedClusterTrait {
    /// Starts the catalogue tests' cluster around a suite.
    static var catalogueCluster: Self { Self(CatalogueCluster.shared) }
}

/// Runs `body` with a connection to a fresh migrated database, closing it afterwards.
func withCatalogueDatabase<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    try await CatalogueCluster.shared.withFreshConnection(migrated: true, body)
}

func count(_ table: String, on db: some PostgresQueryable) async throws -> Int {
    try await db.query("SELECT count(*) AS n FROM \(identifier: table)").first!.decode("n")
}
