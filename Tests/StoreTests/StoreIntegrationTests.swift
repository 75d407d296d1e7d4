import Foundation
import Logging
import Testing
@testable import Store

@Suite("Store against a private PostgreSQL", .privateCluster, .timeLimit(.minutes(5)))
struct StoreIntegrationTests {
    let logger = TestCluster.logger

    // MARK: binds

    @Test func injectionAttemptIsStoredAsDataAndTheTableSurvives() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
            let hostile = "Robert'); DROP TABLE notes; -- \"quoted\" 'single' $1 \\ end"
            let inserted = try await db.execute("INSERT INTO notes (body) VALUES (\(hostile))")
            #expect(inserted == 1)
            let rows = try await db.query("SELECT body FROM notes WHERE body = \(hostile)")
            #expect(rows.count == 1)
            #expect(try rows.first?.decode("body", as: String.self) == hostile)
            let table = try await db.query("SELECT to_regclass('notes') IS NOT NULL AS present")
            #expect(try table.first?.decode("present", as: Bool.self) == true)
        }
    }

    @Test func everyBindableTypeRoundTrips() async throws {
        try await withFreshConnection { db in
            func roundTrip<T: PostgresEncodable & PostgresDecodable>(_ value: T) async throws -> T {
                let rows = try await db.query("SELECT \(value) AS v")
                return try #require(rows.first).decode("v", as: T.self)
            }
            let text = "naïve 'quoted' \"double\" back\\slash\ttab\nnewline 🩺"
            #expect(try await roundTrip(text) == text)
            #expect(try await roundTrip(Int.max) == Int.max)
            #expect(try await roundTrip(Int.min) == Int.min)
            #expect(try await roundTrip(Int32.min) == Int32.min)
            #expect(try await roundTrip(Int64(-42)) == -42)
            #expect(try await roundTrip(Double.pi) == Double.pi)
            #expect(try await roundTrip(1e-300) == 1e-300)
            #expect(try await roundTrip(Double.infinity) == .infinity)
            #expect(try await roundTrip(Double.nan).isNaN)
            #expect(try await roundTrip(Float(0.1)) == Float(0.1))
            #expect(try await roundTrip(true) == true)
            #expect(try await roundTrip(false) == false)
            let allBytes = (0...255).map { UInt8($0) }
            #expect(try await roundTrip(allBytes) == allBytes)
            #expect(try await roundTrip([UInt8]()) == [])
            #expect(try await roundTrip(Data(allBytes.reversed())) == Data(allBytes.reversed()))
            let date = Date(timeIntervalSince1970: 1_764_000_000.654321)
            let backDate = try await roundTrip(date)
            #expect(abs(backDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
            let uuid = UUID()
            #expect(try await roundTrip(uuid) == uuid)
            let strings = ["", "NULL", "a,b", "{brace}", "quote\"", "back\\", "tab\t", "ünï"]
            #expect(try await roundTrip(strings) == strings)
            #expect(try await roundTrip([1, -2, Int.max]) == [1, -2, Int.max])
            #expect(try await roundTrip([0.5, -1e10, Double.infinity]) == [0.5, -1e10, Double.infinity])
            #expect(try await roundTrip([Float(0.25), Float(3.5)]) == [Float(0.25), Float(3.5)])
            #expect(try await roundTrip([String]()) == [])

            // The server sees the bound types, not text: arithmetic works on them.
            let sum = try await db.query("SELECT \(40) + \(2) AS n, \(2.5) * 2 AS d, array_length(\([1, 2, 3]), 1) AS len")
            #expect(try sum.first?.decode("n", as: Int.self) == 42)
            #expect(try sum.first?.decode("d", as: Double.self) == 5.0)
            #expect(try sum.first?.decode(at: 2, as: Int.self) == 3)
        }
    }

    struct Counters: Codable, Equatable {
        var processed: Int
        var failed: Int
        var label: String
    }

    @Test func jsonIsBoundAsJSONB() async throws {
        try await withFreshConnection { db in
            try await Migrator(logger: logger).migrate(on: db)
            let counters = Counters(processed: 10, failed: 1, label: "it's \"fine\"")
            try await db.execute("""
                INSERT INTO service_heartbeats (service, instance_id, host, pid, version, started_at, status, counters)
                VALUES ('learner', 'a', 'h', 1, '0.1', \(Date()), 'running', \(json: counters))
                """)
            let rows = try await db.query("SELECT counters, counters->>'processed' AS processed, pg_typeof(counters)::text AS kind FROM service_heartbeats")
            let row = try #require(rows.first)
            #expect(try row.decodeJSON("counters", as: Counters.self) == counters)
            #expect(try row.decode("processed", as: String.self) == "10")
            #expect(try row.decode("kind", as: String.self) == "jsonb")
        }
    }

    @Test func nullsBindAndDecodeAsOptionals() async throws {
        try await withFreshConnection { db in
            let none: Int? = nil
            let some: String? = "here"
            let rows = try await db.query("SELECT \(none)::int8 AS a, \(some) AS b, \(nil as [UInt8]?)::bytea AS c")
            let row = try #require(rows.first)
            #expect(try row.decode("a", as: Int?.self) == nil)
            #expect(try row.decode("b", as: String?.self) == "here")
            #expect(try row.decode("c", as: [UInt8]?.self) == nil)
            #expect(try row.isNull("a"))
            // A NULL read as a non-optional names the column and the type.
            do {
                _ = try row.decode("a", as: Int.self)
                Issue.record("NULL decoded as Int")
            } catch let error as PostgresError {
                #expect(error.code == .decoding)
                #expect(error.message.contains("\"a\"") && error.message.contains("Int"), "\(error)")
            }
        }
    }

    @Test func decodingErrorsNameColumnAndType() async throws {
        try await withFreshConnection { db in
            let rows = try await db.query("SELECT 'not a number'::text AS label")
            let row = try #require(rows.first)
            do {
                _ = try row.decode("label", as: Int.self)
                Issue.record("text decoded as Int")
            } catch let error as PostgresError {
                #expect(error.message.contains("\"label\""), "\(error)")
                #expect(error.message.contains("text") && error.message.contains("Int"), "\(error)")
                #expect(!error.description.contains("not a number"), "the cell's value must not be printed")
            }
            #expect(throws: PostgresError.self) { try row.decode("missing", as: String.self) }
        }
    }

    @Test func sqlErrorsCarrySQLStateAndAreNotRetriable() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE u (k int PRIMARY KEY)")
            try await db.execute("INSERT INTO u VALUES (\(7))")
            do {
                try await db.execute("INSERT INTO u VALUES (\(7))")
                Issue.record("duplicate key accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == "23505")
                #expect(!error.isRetriable)
                #expect(!error.description.contains("(7)"), "row values belong to serverDetail only: \(error)")
            }
            // The connection is still usable after a failed statement.
            #expect(try await db.query("SELECT count(*) AS n FROM u").first?.decode("n", as: Int.self) == 1)
        }
    }

    // MARK: transactions

    @Test func transactionCommitsOrRollsBackOnThrow() async throws {
        struct Boom: Error {}
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE t (v int)")
            await #expect(throws: Boom.self) {
                try await db.transaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (\(1))")
                    #expect(try await tx.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self) == 1)
                    throw Boom()
                }
            }
            #expect(try await db.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self) == 0)

            let returned = try await db.transaction { tx in
                try await tx.execute("INSERT INTO t VALUES (\(2)), (\(3))")
            }
            #expect(returned == 2)
            #expect(try await db.query("SELECT sum(v) AS s FROM t").first?.decode("s", as: Int.self) == 5)
        }
    }

    @Test func nestedTransactionsAndBypassingTheHandleAreRejected() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE t (v int)")
            do {
                try await db.transaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (1)")
                    try await db.transaction { _ in }
                }
                Issue.record("nested transaction accepted")
            } catch let error as PostgresError {
                #expect(error.code == .transactionMisuse)
                #expect(error.message.contains("nested transactions are not supported"))
            }
            #expect(try await db.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self) == 0)
            // A handle kept past its transaction cannot run statements.
            let escaped = try await db.transaction { tx in tx }
            await #expect(throws: PostgresError.self) { try await escaped.execute("SELECT 1") }
        }
    }

    @Test func failedStatementInsideTransactionFailsTheCommit() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE t (v int PRIMARY KEY)")
            // The closure swallows the statement's error, but COMMIT must not pretend.
            await #expect(throws: PostgresError.self) {
                try await db.transaction { tx in
                    try await tx.execute("INSERT INTO t VALUES (1)")
                    _ = try? await tx.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(try await db.query("SELECT count(*) AS n FROM t").first?.decode("n", as: Int.self) == 0)
        }
    }

    // MARK: COPY

    @Test func copyKeepsAwkwardCharactersIntact() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE c (id int, body text, raw bytea, score double precision, at timestamptz, tags text[])")
            let at = Date(timeIntervalSince1970: 1_764_000_000.25)
            let bodies = ["tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "", "NULL", "🩺 ünï", "a\u{8}\u{c}\u{b}b"]
            let rows: [[SQLValue?]] = bodies.enumerated().map { index, body in
                [.int32(Int32(index)), .text(body), .bytea([0, 9, 10, 92, 255]), .double(Double(index) / 3), .timestamptz(at), .textArray([body, "x"])]
            } + [[.int32(99), nil, nil, nil, nil, nil]]
            let written = try await db.copy(into: "c", columns: ["id", "body", "raw", "score", "at", "tags"], rows: rows)
            #expect(written == rows.count)
            let back = try await db.query("SELECT id, body, raw, score, at, tags FROM c ORDER BY id")
            #expect(back.count == rows.count)
            for (index, body) in bodies.enumerated() {
                let row = back[index]
                #expect(try row.decode("body", as: String.self) == body)
                #expect(try row.decode("raw", as: [UInt8].self) == [0, 9, 10, 92, 255])
                #expect(try row.decode("score", as: Double.self) == Double(index) / 3)
                #expect(try row.decode("at", as: Date.self) == at)
                #expect(try row.decode("tags", as: [String].self) == [body, "x"])
            }
            #expect(try back.last?.decode("body", as: String?.self) == nil)
        }
    }

    @Test func copyRejectsBadRowsAndLeavesTheConnectionUsable() async throws {
        try await withFreshConnection { db in
            try await db.execute("CREATE TABLE c (a int, b text)")
            let rows: [[SQLValue?]] = [[.int32(1), .text("ok")], [.int32(2)]]
            do {
                try await db.copy(into: "c", columns: ["a", "b"], rows: rows)
                Issue.record("short row accepted")
            } catch let error as PostgresError {
                #expect(error.message.contains("row 2 has 1 values for 2 columns"), "\(error)")
            }
            #expect(try await db.query("SELECT count(*) AS n FROM c").first?.decode("n", as: Int.self) == 0)
            await #expect(throws: PostgresError.self) {
                try await db.copy(into: "c; DROP TABLE c", columns: ["a"], rows: [[.int32(1)]])
            }
            // A row the server refuses fails the whole COPY with the server's reason.
            try await db.execute("ALTER TABLE c ADD CHECK (a > 0)")
            do {
                try await db.copy(into: "c", columns: ["a", "b"], rows: [[.int32(1), .text("x")], [.int32(-5), .text("y")]])
                Issue.record("row violating a CHECK accepted")
            } catch let error as PostgresError {
                #expect(error.code == .copy)
                #expect(error.sqlState == "23514", "\(error)")
            }
            #expect(try await db.copy(into: "c", columns: ["a", "b"], rows: [[.int32(3), .text("fine")]]) == 1)
            #expect(try await db.query("SELECT to_regclass('c') IS NOT NULL AS present").first?.decode("present", as: Bool.self) == true)
        }
    }

    // MARK: connections

    @Test func reconnectsAfterTheBackendIsTerminated() async throws {
        let url = try await TestCluster.freshDatabase()
        let victim = try await PostgresConnection.connect(url: url, logger: logger)
        let killer = try await PostgresConnection.connect(url: url, logger: logger)
        let oldPID = try await victim.backendPID()
        let terminated = try await killer.query("SELECT pg_terminate_backend(\(oldPID)) AS done")
        #expect(try terminated.first?.decode("done", as: Bool.self) == true)
        // Wait until the backend process has exited (its socket is closed then); it leaves
        // pg_stat_activity a moment before that, so that view is not enough.
        for _ in 0..<250 where kill(oldPID, 0) == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(kill(oldPID, 0) != 0, "backend \(oldPID) did not exit")
        let answer = try await victim.query("SELECT 41 + 1 AS v")
        #expect(try answer.first?.decode("v", as: Int.self) == 42)
        let newPID = try await victim.backendPID()
        #expect(newPID != oldPID)
        await victim.close()
        await killer.close()
        await #expect(throws: PostgresError.self) { try await victim.query("SELECT 1") }
    }

    @Test func clientPoolSharesAFewConnections() async throws {
        let client = try PostgresClient(url: try await TestCluster.freshDatabase(), maxConnections: 2, logger: logger)
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await client.withConnection { connection in
                        _ = try await connection.query("SELECT pg_sleep(0.02)")
                        return try await connection.backendPID()
                    }
                }
            }
            var seen: [Int32] = []
            for try await pid in group { seen.append(pid) }
            return seen
        }
        #expect(pids.count == 8)
        #expect(Set(pids).count <= 2)
        let sum = try await client.transaction { tx in
            try await tx.query("SELECT \(20) + \(22) AS v").first?.decode("v", as: Int.self)
        }
        #expect(sum == 42)
        await client.close()
        await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
    }

    @Test func cancelledWaiterLeavesThePool() async throws {
        let client = try PostgresClient(url: try await TestCluster.freshDatabase(), maxConnections: 1, logger: logger)
        // The holder keeps the only connection until the test releases it, so the waiter
        // can only wait, however the tasks happen to be scheduled.
        let (held, heldSignal) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await client.withConnection { connection in
                heldSignal.yield()
                for await _ in release { break }
                return try await connection.query("SELECT 1 AS v").count
            }
        }
        for await _ in held { break }
        let waiter = Task {
            try await client.withConnection { connection in try await connection.backendPID() }
        }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        releaseSignal.yield()
        #expect(try await holder.value == 1)
        // The single connection went back to the pool and serves the next caller.
        #expect(try await client.query("SELECT 7 AS v").first?.decode("v", as: Int.self) == 7)
        await client.close()
    }

    // MARK: bad DATABASE_URLs

    private func connectionError(_ url: String) async -> PostgresError? {
        do {
            let connection = try await PostgresConnection.connect(url: url, logger: logger)
            await connection.close()
            return nil
        } catch {
            return error as? PostgresError
        }
    }

    @Test func badDatabaseURLsNameTheProblemAndHideThePassword() async throws {
        let cluster = try await TestCluster.shared.current()
        let admin = try await PostgresConnection.connect(url: cluster.databaseURL, logger: logger)
        let role = "app_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin.execute("CREATE ROLE \(identifier: role) LOGIN PASSWORD \(unsafeSQL: "'Right-Pa55'")")
        await admin.close()

        // The right password works, so the next failure is about the password alone.
        let good = try await PostgresConnection.connect(url: "postgresql://\(role):Right-Pa55@127.0.0.1:\(cluster.port)/skinr1", logger: logger)
        await good.close()

        let wrong = try #require(await connectionError("postgresql://\(role):Wr0ng-Secret@127.0.0.1:\(cluster.port)/skinr1"))
        #expect(wrong.code == .connectionFailed)
        #expect(wrong.description.contains("password authentication failed"), "\(wrong)")
        #expect(wrong.description.contains(role) && wrong.description.contains("port=\(cluster.port)"))
        #expect(!wrong.description.contains("Wr0ng-Secret"))
        #expect(!wrong.isRetriable)

        let host = try #require(await connectionError("postgresql://\(role):Wr0ng-Secret@no-such-host.invalid:5432/skinr1"))
        #expect(host.description.contains("no-such-host.invalid"), "\(host)")
        #expect(!host.description.contains("Wr0ng-Secret"))

        let database = try #require(await connectionError("postgresql://postgres:Wr0ng-Secret@127.0.0.1:\(cluster.port)/no_such_db"))
        #expect(database.description.contains("\"no_such_db\" does not exist"), "\(database)")
        #expect(!database.description.contains("Wr0ng-Secret"))

        let closedPort = try #require(await connectionError("host=127.0.0.1 port=1 dbname=skinr1 user=x password=Wr0ng-Secret connect_timeout=2"))
        #expect(closedPort.description.contains("port=1"), "\(closedPort)")
        #expect(!closedPort.description.contains("Wr0ng-Secret"))
        #expect(closedPort.isRetriable)

        let garbage = try #require(await connectionError("postgresql://u:Wr0ng-Secret@127.0.0.1:notaport/db"))
        #expect(!garbage.description.contains("Wr0ng-Secret"), "\(garbage)")
        #expect(garbage.description.contains("notaport"), "\(garbage)")
    }
}
