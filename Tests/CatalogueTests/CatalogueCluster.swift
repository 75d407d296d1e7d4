import Foundation
import Logging
import Store
import Testing

/// The private PostgreSQL cluster of the catalogue tests: started when the first suite
/// carrying `.catalogueCluster` begins, stopped when the last one ends. Each test takes a
/// fresh database in it.
actor CatalogueCluster {
    static let shared = CatalogueCluster()

    static let logger: Logger = {
        var logger = Logger(label: "skinr1.catalogue.tests")
        logger.logLevel = .warning
        return logger
    }()

    private var users = 0
    private var startup: Task<PrivatePostgres, any Error>?
    private var directory: URL?

    func acquire() async throws {
        users += 1
        if startup == nil {
            let directory = URL(fileURLWithPath: NSTemporaryDirectory())
                .appendingPathComponent("skinr1-catalogue-tests-\(UUID().uuidString.prefix(8))")
            self.directory = directory
            startup = Task { try await PrivatePostgres.start(in: directory, durable: false, logger: Self.logger) }
        }
        do {
            _ = try await startup!.value
        } catch {
            users -= 1
            if users == 0 { startup = nil }
            throw error
        }
    }

    func release() async {
        users -= 1
        guard users == 0, let startup else { return }
        self.startup = nil
        let directory = self.directory
        if let cluster = try? await startup.value { try? await cluster.stop() }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    func cluster() async throws -> PrivatePostgres {
        let running = try #require(startup, "the suite must carry the .catalogueCluster trait")
        return try await running.value
    }

    /// A connection to a new, migrated, empty database.
    static func freshMigratedConnection() async throws -> PostgresConnection {
        let cluster = try await shared.cluster()
        let name = "c_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let url = try await cluster.createDatabase(named: String(name))
        let connection = try await PostgresConnection.connect(url: url, logger: logger)
        do {
            try await Migrator(logger: logger).migrate(on: connection)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }
}

struct CatalogueClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await CatalogueCluster.shared.acquire()
        do {
            try await function()
        } catch {
            await CatalogueCluster.shared.release()
            throw error
        }
        await CatalogueCluster.shared.release()
    }
}

extension Trait where Self == CatalogueClusterTrait {
    static var catalogueCluster: Self { Self() }
}

/// Runs `body` with a connection to a fresh migrated database, closing it afterwards.
func withCatalogueDatabase<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    let connection = try await CatalogueCluster.freshMigratedConnection()
    do {
        let value = try await body(connection)
        await connection.close()
        return value
    } catch {
        await connection.close()
        throw error
    }
}

func count(_ table: String, on db: some PostgresQueryable) async throws -> Int {
    try await db.query("SELECT count(*) AS n FROM \(identifier: table)").first!.decode("n")
}
