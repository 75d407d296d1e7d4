import Foundation
import Logging
import Store
import Testing

/// One private PostgreSQL cluster shared by the suites of a test target: started when the
/// first suite carrying its trait begins, stopped when the last one ends. Each test takes a
/// fresh database in it.
public actor SharedCluster {
    nonisolated public let label: String
    nonisolated public let logger: Logger
    private var users = 0
    private var startup: Task<PrivatePostgres, any Error>?
    private var directory: URL?

    public init(label: String) {
        self.label = label
        var logger = Logger(label: "skinr1.\(label).tests")
        logger.logLevel = .warning
        self.logger = logger
    }

    public func acquire() async throws {
        users += 1
        if startup == nil {
            let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-\(label)-tests-\(UUID().uuidString.prefix(8))")
            self.directory = directory
            let logger = self.logger
            startup = Task { try await PrivatePostgres.start(in: directory, durable: false, logger: logger) }
        }
        do {
            _ = try await startup!.value
        } catch {
            users -= 1
            if users == 0 { startup = nil }
            throw error
        }
    }

    public func release() async {
        users -= 1
        guard users == 0, let startup else { return }
        // Forget it before stopping, so a suite arriving meanwhile starts a new one.
        self.startup = nil
        let directory = self.directory
        if let cluster = try? await startup.value { try? await cluster.stop() }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The running cluster; only valid inside a suite carrying this cluster's trait.
    public func current() async throws -> PrivatePostgres {
        let running = try #require(startup, "the suite must carry the trait of the \(label) cluster")
        return try await running.value
    }

    /// A new empty database and its URL.
    public func freshDatabase() async throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        return try await current().createDatabase(named: String(name))
    }

    /// A connection to a new empty database, migrated when asked.
    public func freshConnection(migrated: Bool = false) async throws -> PostgresConnection {
        let connection = try await PostgresConnection.connect(url: freshDatabase(), logger: logger)
        guard migrated else { return connection }
        do {
            try await Migrator(logger: logger).migrate(on: connection)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// Runs `body` with a connection to a fresh database, closing it afterwards.
    nonisolated public func withFreshConnection<T>(migrated: Bool = false,
                                                 _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await freshConnection(migrated: migrated)
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }
}

/// Starts a shared cluster around a suite and stops it after the last suite using it.
public struct SharedClusterTrait: SuiteTrait, TestScoping {
    public let cluster: SharedCluster
    public var isRecursive: Bool { false }

    public init(_ cluster: SharedCluster) { self.cluster = cluster }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await cluster.acquire()
        do {
            try await function()
        } catch {
            await cluster.release()
            throw error
        }
        await cluster.release()
    }
}
