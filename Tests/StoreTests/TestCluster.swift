import Foundation
import Logging
import Testing
@testable import Store

/// One private PostgreSQL cluster per test process, started when the first suite that
/// needs it begins and stopped when the last such suite ends; each test takes a fresh
/// database in it.
actor TestCluster {
    static let shared = TestCluster()

    private var cluster: PrivatePostgres?
    private var directory: URL?
    private var users = 0
    private var starting: Task<PrivatePostgres, any Error>?

    static let logger: Logger = {
        var logger = Logger(label: "skinr1.store.tests")
        logger.logLevel = .warning
        return logger
    }()

    func acquire() async throws -> PrivatePostgres {
        users += 1
        let task: Task<PrivatePostgres, any Error>
        if let starting {
            task = starting
        } else {
            let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-store-tests-\(UUID().uuidString.prefix(8))")
            self.directory = directory
            task = Task { try await PrivatePostgres.start(in: directory, durable: false, logger: Self.logger) }
            starting = task
        }
        do {
            let started = try await task.value
            cluster = started
            return started
        } catch {
            users -= 1
            if users == 0 { starting = nil }
            throw error
        }
    }

    func release() async {
        users -= 1
        guard users == 0, let cluster else { return }
        // Forget it before stopping, so a suite arriving meanwhile starts a new one.
        self.cluster = nil
        starting = nil
        let directory = self.directory
        try? await cluster.stop()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The running cluster; only valid inside a suite marked `.privateCluster`.
    func current() throws -> PrivatePostgres {
        try #require(cluster, "the suite must carry the .privateCluster trait")
    }

    /// A new empty database and its URL.
    static func freshDatabase() async throws -> String {
        let cluster = try await shared.current()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        return try await cluster.createDatabase(named: String(name))
    }

    /// A connection to a new empty database.
    static func freshConnection() async throws -> PostgresConnection {
        try await PostgresConnection.connect(url: freshDatabase(), logger: logger)
    }
}

/// Starts the shared private cluster around a suite and stops it afterwards.
struct PrivateClusterTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        _ = try await TestCluster.shared.acquire()
        do {
            try await function()
        } catch {
            await TestCluster.shared.release()
            throw error
        }
        await TestCluster.shared.release()
    }
}

extension Trait where Self == PrivateClusterTrait {
    static var privateCluster: Self { Self() }
}

/// Runs `body` with a connection to a fresh database, closing it afterwards.
func withFreshConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    let connection = try await TestCluster.freshConnection()
    do {
        let value = try await body(connection)
        await connection.close()
        return value
    } catch {
        await connection.close()
        throw error
    }
}
