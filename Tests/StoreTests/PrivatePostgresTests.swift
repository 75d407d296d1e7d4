import Foundation
import Logging
import Testing
@testable import Store

@Suite("Private PostgreSQL cluster", .timeLimit(.minutes(5)))
struct PrivatePostgresTests {
    let logger = TestCluster.logger

    @Test func restartingReusesTheClusterAndKeepsItsData() async throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-pp-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        do {
            #expect(first.databaseURL.hasPrefix("postgresql://postgres@127.0.0.1:"))
            let db = try await PostgresConnection.connect(url: first.databaseURL, logger: logger)
            try await db.execute("CREATE TABLE kept (v text)")
            try await db.execute("INSERT INTO kept VALUES (\("survives"))")
            let listen = try await db.query("SHOW listen_addresses").first?.decode(at: 0, as: String.self)
            #expect(listen == "127.0.0.1")
            await db.close()

            // Starting over a running cluster finds it instead of starting a second server.
            let again = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
            #expect(again.port == first.port)
        } catch {
            try? await first.stop()
            throw error
        }
        // A session opened before a restart reconnects (with backoff) once the server is back.
        let survivor = try await PostgresConnection.connect(url: first.databaseURL, logger: logger)
        let pidBefore = try await survivor.backendPID()
        try await first.stop()

        // Starting over a stopped cluster starts it again without initdb, on the same port.
        let second = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        do {
            #expect(second.port == first.port)
            let kept = try await survivor.query("SELECT v FROM kept")
            #expect(try kept.first?.decode("v", as: String.self) == "survives")
            #expect(try await survivor.backendPID() != pidBefore)
            await survivor.close()
        } catch {
            try? await second.stop()
            throw error
        }
        try await second.stop()
        // Stopped means stopped: nothing listens on the port any more.
        let config = try PostgresConfiguration(second.databaseURL, connectTimeoutSeconds: 2)
        await #expect(throws: PostgresError.self) { try await PostgresConnection.connect(config, logger: logger) }
    }

    @Test func aMovedClusterStartsWhereItIsNow() async throws {
        let name = "skinr1-pp-\(UUID().uuidString.prefix(8))"
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent(name)
        // A quote in the new name: the socket directory goes through pg_ctl's shell.
        let moved = URL(fileURLWithPath: "/tmp").appendingPathComponent("\(name) o'moved")
        defer {
            try? FileManager.default.removeItem(at: directory)
            try? FileManager.default.removeItem(at: moved)
        }
        let first = try await PrivatePostgres.start(in: directory, durable: false, logger: logger)
        do {
            let db = try await PostgresConnection.connect(url: first.databaseURL, logger: logger)
            try await db.execute("CREATE TABLE kept (v text)")
            try await db.execute("INSERT INTO kept VALUES (\("moved along"))")
            await db.close()
        } catch {
            try? await first.stop()
            throw error
        }
        try await first.stop()
        try FileManager.default.moveItem(at: directory, to: moved)

        let again = try await PrivatePostgres.start(in: moved, durable: false, logger: logger)
        do {
            let db = try await PostgresConnection.connect(url: again.databaseURL, logger: logger)
            let socket = try await db.query("SHOW unix_socket_directories").first?.decode(at: 0, as: String.self)
            let kept = try await db.query("SELECT v FROM kept").first?.decode("v", as: String.self)
            await db.close()
            #expect(socket == moved.path)
            #expect(kept == "moved along")
            #expect(FileManager.default.fileExists(atPath: moved.appendingPathComponent(".s.PGSQL.\(again.port)").path))
        } catch {
            try? await again.stop()
            throw error
        }
        try await again.stop()
    }

    @Test(.enabled(if: geteuid() == 0, "only root hands the directory to the postgres user"))
    func unreachableDirectoryGivesAClearError() async throws {
        // /root is 0700: the postgres user cannot pass through it.
        let parent = URL(fileURLWithPath: "/root").appendingPathComponent("skinr1-pp-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: parent) }
        do {
            let cluster = try await PrivatePostgres.start(in: parent.appendingPathComponent("pg"), logger: logger)
            try? await cluster.stop()
            Issue.record("a cluster started under /root")
        } catch let error as PostgresError {
            #expect(error.code == .cluster)
            #expect(error.message.contains("cannot reach") && error.message.contains("/tmp"), "\(error)")
        }
    }
}
