import Logging
import Store
import TestSupport
import Testing

/// The store tests' private PostgreSQL cluster (TestSupport's `SharedCluster`).
enum TestCluster {
    static let shared = SharedCluster(label: "store")
    static var logger: Logger { shared.logger }

    /// A new empty database and its URL.
    static func freshDatabase() async throws -> String {
        try await shared.freshDatabase()
    }

    /// A connection to a new empty database.
    static func freshConnection() async throws -> PostgresConnection {
        try await shared.freshConnection()
    }
}

extension Trait where Self == SharedClusterTrait {
    /// Starts the store tests' cluster around a suite.
    static var privateCluster: Self { Self(TestCluster.shared) }
}

/// Runs `body` with a connection to a fresh database, closing it afterwards.
func withFreshConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    try await TestCluster.shared.withFreshConnection(body)
}
