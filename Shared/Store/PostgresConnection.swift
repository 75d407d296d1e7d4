import Backoff
import Dispatch
import Logging

/// Something statements can run on: a connection, or a transaction on one.
public protocol PostgresQueryable: Sendable {
    /// Runs a statement and returns its rows.
    func query(_ query: SQLQuery) async throws -> [PostgresRow]
    /// Runs a statement and returns the number of rows it affected.
    @discardableResult
    func execute(_ query: SQLQuery) async throws -> Int
    /// Bulk-loads rows with COPY FROM STDIN; returns the number of rows written.
    @discardableResult
    func copy<Rows: Sequence<[SQLValue?]>>(into table: String, columns: [String], rows: Rows) async throws -> Int
    /// Runs a query whose only column is bytea; each row's bytes (nil for NULL) come in
    /// binary form, so large blobs are neither hex-encoded nor parsed.
    func byteaColumn(_ query: SQLQuery) async throws -> [[UInt8]?]
}

/// One session with PostgreSQL.
///
/// Every libpq call runs on the connection's own serial dispatch queue (they block on the
/// network), bridged to async callers with continuations. If the server closed the session
/// (restart, `pg_terminate_backend`, network cut), it is reopened with jittered backoff
/// before the next statement; a statement that was in flight when the session broke fails
/// with a retriable `connectionLost` error, since it may or may not have run.
///
/// A connection runs one statement at a time; use it from one task at a time (the
/// `PostgresClient` pool hands out connections that way).
public final class PostgresConnection: PostgresQueryable {
    public let configuration: PostgresConfiguration
    public let reconnectPolicy: RetryPolicy
    let logger: Logger
    private let queue: DispatchQueue
    private let box: RawBox

    /// Holds the libpq session. `@unchecked Sendable` is safe because `raw` is only touched
    /// inside blocks submitted to `queue`, a serial queue, so no two threads use it at once.
    private final class RawBox: @unchecked Sendable {
        let raw: RawConnection
        init(_ raw: RawConnection) { self.raw = raw }
    }

    private struct SessionGone: Error {}

    private init(configuration: PostgresConfiguration, reconnectPolicy: RetryPolicy, logger: Logger) {
        self.configuration = configuration
        self.reconnectPolicy = reconnectPolicy
        self.logger = logger
        self.queue = DispatchQueue(label: "skinr1.store.connection")
        self.box = RawBox(RawConnection(configuration: configuration))
    }

    /// Opens a session. With `connectPolicy`, retriable failures (server not up yet) are
    /// retried with backoff; without it, the first failure is thrown. Wrong passwords,
    /// unknown roles and missing databases are never retried.
    public static func connect(
        _ configuration: PostgresConfiguration,
        logger: Logger,
        connectPolicy: RetryPolicy? = nil,
        reconnectPolicy: RetryPolicy = RetryPolicy(baseDelay: .milliseconds(50), maxDelay: .seconds(5), maxAttempts: 12)
    ) async throws -> PostgresConnection {
        let connection = PostgresConnection(configuration: configuration, reconnectPolicy: reconnectPolicy, logger: logger)
        if let connectPolicy {
            try await withRetry("postgres connect", policy: connectPolicy, logger: logger, isRetriable: Self.isRetriable) {
                try await connection.onQueue { raw in try raw.connect() }
            }
        } else {
            try await connection.onQueue { raw in try raw.connect() }
        }
        logger.debug("connected to PostgreSQL", metadata: [StoreLogKey.target: "\(configuration)"])
        return connection
    }

    /// Opens a session from a `DATABASE_URL` or key=value string.
    public static func connect(url: String, logger: Logger, connectPolicy: RetryPolicy? = nil) async throws -> PostgresConnection {
        try await connect(PostgresConfiguration(url), logger: logger, connectPolicy: connectPolicy)
    }

    @Sendable static func isRetriable(_ error: any Error) -> Bool {
        (error as? PostgresError)?.isRetriable ?? false
    }

    /// Closes the session; later statements fail with `connectionClosed`.
    public func close() async {
        _ = try? await onQueue { raw in
            raw.isClosedByOwner = true
            raw.close()
        }
    }

    // MARK: statements

    public func query(_ query: SQLQuery) async throws -> [PostgresRow] {
        try await run(query, scope: nil).rows
    }

    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await run(query, scope: nil).affectedRows
    }

    @discardableResult
    public func copy<Rows: Sequence<[SQLValue?]>>(into table: String, columns: [String], rows: Rows) async throws -> Int {
        try await copy(into: table, columns: columns, rows: rows, scope: nil)
    }

    public func byteaColumn(_ query: SQLQuery) async throws -> [[UInt8]?] {
        try await byteaColumn(query, scope: nil)
    }

    func byteaColumn(_ query: SQLQuery, scope: UInt64?) async throws -> [[UInt8]?] {
        let (sql, binds) = try query.rendered()
        return try await onSession(scope: scope) { raw in try raw.byteaColumn(sql, binds: binds) }
    }

    /// The server's version as `PQserverVersion` gives it (e.g. 150014 for 15.14).
    public func serverVersionNumber() async throws -> Int {
        try await onSession(scope: nil) { raw in Int(raw.serverVersion) }
    }

    /// The process id of the server backend serving this session.
    public func backendPID() async throws -> Int32 {
        try await onSession(scope: nil) { raw in raw.backendPID }
    }

    /// Runs SQL text that may hold several statements and no parameters (migrations).
    func executeScript(_ sql: String, scope: UInt64?) async throws {
        _ = try await onSession(scope: scope) { raw in try raw.executeScript(sql) }
    }

    func run(_ query: SQLQuery, scope: UInt64?) async throws -> PostgresResult {
        let (sql, binds) = try query.rendered()
        return try await onSession(scope: scope) { raw in try raw.execute(sql, binds: binds) }
    }

    // MARK: transactions

    /// Runs `body` in a transaction: BEGIN, then COMMIT if it returns, ROLLBACK if it throws.
    /// Statements must go through the `PostgresTransaction` handle while it is open; using the
    /// connection itself, or opening a nested transaction, fails with `transactionMisuse`.
    public func transaction<T>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        let id = try await onSession(scope: nil) { raw -> UInt64 in
            _ = try raw.executeScript("BEGIN")
            let id = raw.beginTransactionID()
            raw.openTransaction = id
            return id
        }
        let transaction = PostgresTransaction(connection: self, id: id)
        let value: T
        do {
            value = try await body(transaction)
        } catch {
            await rollback(id)
            throw error
        }
        try await onQueue { raw in
            guard raw.openTransaction == id else {
                throw PostgresError(.connectionLost, message: "the session broke before COMMIT; the transaction was not committed")
            }
            raw.openTransaction = nil
            let result = try raw.executeScript("COMMIT")
            // COMMIT of a transaction in which a statement failed answers ROLLBACK, not an error.
            if result.commandTag == "ROLLBACK" {
                throw PostgresError(.sql, sqlState: "25P02",
                                    message: "the transaction was rolled back because a statement in it failed")
            }
        }
        return value
    }

    private func rollback(_ id: UInt64) async {
        do {
            try await onQueue { raw in
                guard raw.openTransaction == id else { return }
                raw.openTransaction = nil
                if raw.isHealthy { _ = try raw.executeScript("ROLLBACK") }
            }
        } catch {
            logger.warning("ROLLBACK failed", metadata: [StoreLogKey.target: "\(configuration)", StoreLogKey.error: "\(error)"])
        }
    }

    // MARK: COPY

    func copy<Rows: Sequence<[SQLValue?]>>(into table: String, columns: [String], rows: Rows, scope: UInt64?) async throws -> Int {
        guard !columns.isEmpty else {
            throw PostgresError(.copy, message: "COPY into \(table) needs at least one column")
        }
        let target = try SQLIdentifier.quoted(table)
        let columnList = try columns.map { try SQLIdentifier.quoted($0) }.joined(separator: ", ")
        let statement = "COPY \(target) (\(columnList)) FROM STDIN (FORMAT text)"
        try await onSession(scope: scope) { raw in try raw.copyStart(statement) }

        var encoder = CopyTextEncoder(columnCount: columns.count)
        var ending = false
        do {
            var rowNumber = 0
            for row in rows {
                rowNumber += 1
                try encoder.append(row, rowNumber: rowNumber, table: table)
                if encoder.buffer.count >= CopyTextEncoder.flushThreshold {
                    let chunk = encoder.take()
                    try await onQueue { raw in try raw.copySend(chunk) }
                }
            }
            let tail = encoder.take()
            ending = true
            return try await onQueue { raw in
                if !tail.isEmpty { try raw.copySend(tail) }
                return try raw.copyEnd(abortReason: nil)
            }
        } catch let error as PostgresError where !ending && (error.code == .bind || error.code == .copy) {
            // A row could not be encoded: abort the COPY so the session stays usable, and
            // report our own reason rather than the server's echo of the abort.
            _ = try? await onQueue { raw in try raw.copyEnd(abortReason: "client aborted the COPY") }
            throw error
        }
    }

    // MARK: the queue

    /// Runs `work` on the session, reopening it first if the server closed it, and checking
    /// that `scope` matches the open transaction (nil = no transaction).
    func onSession<T: Sendable>(scope: UInt64?, _ work: @escaping @Sendable (RawConnection) throws -> T) async throws -> T {
        do {
            return try await onQueue { raw in
                try Self.checkScope(raw, scope)
                guard raw.isHealthy else {
                    if raw.isClosedByOwner {
                        throw PostgresError(.connectionClosed, message: "the connection to \(raw.configuration) was closed")
                    }
                    if raw.openTransaction != nil {
                        raw.openTransaction = nil
                        throw PostgresError(.connectionLost, message: "the session with \(raw.configuration) broke inside a transaction; the server rolled it back")
                    }
                    throw SessionGone()
                }
                return try work(raw)
            }
        } catch is SessionGone {
            try await reconnect()
            return try await onQueue { raw in
                try Self.checkScope(raw, scope)
                return try work(raw)
            }
        }
    }

    private func reconnect() async throws {
        logger.warning("session with PostgreSQL lost; reconnecting", metadata: [StoreLogKey.target: "\(configuration)"])
        try await withRetry("postgres reconnect", policy: reconnectPolicy, logger: logger, isRetriable: Self.isRetriable) {
            try await onQueue { raw in
                if raw.isHealthy { return }
                try raw.connect()
            }
        }
        logger.info("reconnected to PostgreSQL", metadata: [StoreLogKey.target: "\(configuration)"])
    }

    private static func checkScope(_ raw: RawConnection, _ scope: UInt64?) throws {
        guard raw.openTransaction != scope else { return }
        if scope == nil {
            throw PostgresError(.transactionMisuse, message:
                "the connection is inside a transaction: run statements through its transaction handle; nested transactions are not supported")
        }
        throw PostgresError(.transactionMisuse, message: "the transaction has already ended; its handle cannot run statements")
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable (RawConnection) throws -> T) async throws -> T {
        let box = self.box
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work(box.raw) })
            }
        }
    }
}

/// A handle to an open transaction, valid only inside the `transaction` closure.
public struct PostgresTransaction: PostgresQueryable {
    let connection: PostgresConnection
    let id: UInt64

    public func query(_ query: SQLQuery) async throws -> [PostgresRow] {
        try await connection.run(query, scope: id).rows
    }

    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await connection.run(query, scope: id).affectedRows
    }

    @discardableResult
    public func copy<Rows: Sequence<[SQLValue?]>>(into table: String, columns: [String], rows: Rows) async throws -> Int {
        try await connection.copy(into: table, columns: columns, rows: rows, scope: id)
    }

    public func byteaColumn(_ query: SQLQuery) async throws -> [[UInt8]?] {
        try await connection.byteaColumn(query, scope: id)
    }

    /// Runs SQL text holding several statements and no parameters (used by migrations).
    func executeScript(_ sql: String) async throws {
        try await connection.executeScript(sql, scope: id)
    }
}

/// Log metadata keys of the store, defined once.
public enum StoreLogKey {
    public static let target = "db.target"
    public static let error = "error"
    public static let migrationVersion = "db.migration.version"
    public static let migrationName = "db.migration.name"
    public static let cluster = "db.cluster.directory"
    public static let port = "db.cluster.port"
    public static let logFile = "db.cluster.log_file"
}
