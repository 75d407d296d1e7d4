import Backoff
import Logging

/// A small pool of connections to one database, for services.
///
/// Connections are opened lazily up to `maxConnections`; `withConnection` lends one to a
/// single task and takes it back afterwards, waiting in FIFO order when all are in use.
public final class PostgresClient: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    private let pool: Pool
    private let logger: Logger

    public init(configuration: PostgresConfiguration, maxConnections: Int = 4, logger: Logger,
                connectPolicy: RetryPolicy? = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(5), maxAttempts: 8)) {
        precondition(maxConnections > 0, "a PostgresClient needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.logger = logger
        self.pool = Pool(configuration: configuration, capacity: maxConnections, logger: logger, connectPolicy: connectPolicy)
    }

    /// A client for `DATABASE_URL` or a key=value connection string.
    public convenience init(url: String, maxConnections: Int = 4, logger: Logger) throws {
        self.init(configuration: try PostgresConfiguration(url), maxConnections: maxConnections, logger: logger)
    }

    /// Lends a connection to `body` for its duration.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await pool.checkOut()
        do {
            let value = try await body(connection)
            await pool.checkIn(connection)
            return value
        } catch {
            await pool.checkIn(connection)
            throw error
        }
    }

    public func query(_ query: SQLQuery) async throws -> [PostgresRow] {
        try await withConnection { try await $0.query(query) }
    }

    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await withConnection { try await $0.execute(query) }
    }

    public func byteaColumn(_ query: SQLQuery) async throws -> [[UInt8]?] {
        try await withConnection { try await $0.byteaColumn(query) }
    }

    public func transaction<T>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        try await withConnection { try await $0.transaction(body) }
    }

    @discardableResult
    public func copy<Rows: Sequence<[SQLValue?]>>(into table: String, columns: [String], rows: Rows) async throws -> Int {
        try await withConnection { try await $0.copy(into: table, columns: columns, rows: rows) }
    }

    /// Closes idle connections and refuses further use; connections lent out close on return.
    public func close() async {
        await pool.close()
    }

    private actor Pool {
        let configuration: PostgresConfiguration
        let capacity: Int
        let logger: Logger
        let connectPolicy: RetryPolicy?
        var idle: [PostgresConnection] = []
        var opened = 0
        /// Tasks waiting for a connection, first come first served; `nil` means "try again".
        var waiters: [(id: UInt64, continuation: CheckedContinuation<PostgresConnection?, any Error>)] = []
        var nextWaiterID: UInt64 = 0
        var closed = false

        init(configuration: PostgresConfiguration, capacity: Int, logger: Logger, connectPolicy: RetryPolicy?) {
            self.configuration = configuration
            self.capacity = capacity
            self.logger = logger
            self.connectPolicy = connectPolicy
        }

        func checkOut() async throws -> PostgresConnection {
            while true {
                if closed { throw PostgresError(.connectionClosed, message: "the client for \(configuration) is closed") }
                if let connection = idle.popLast() { return connection }
                if opened < capacity {
                    opened += 1
                    do {
                        return try await PostgresConnection.connect(configuration, logger: logger, connectPolicy: connectPolicy)
                    } catch {
                        opened -= 1
                        // Let a waiter try its own connection attempt.
                        if !waiters.isEmpty { waiters.removeFirst().continuation.resume(returning: nil) }
                        throw error
                    }
                }
                // All connections are lent out: wait for one to come back (nil = try again).
                // A cancelled task stops waiting, so shutdown is not held up by a busy pool.
                nextWaiterID += 1
                let id = nextWaiterID
                let handed: PostgresConnection? = try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection?, any Error>) in
                        if Task.isCancelled {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            waiters.append((id, continuation))
                        }
                    }
                } onCancel: {
                    Task { await self.cancelWaiter(id) }
                }
                if let connection = handed { return connection }
            }
        }

        func checkIn(_ connection: PostgresConnection) async {
            if closed {
                opened -= 1
                await connection.close()
                return
            }
            if !waiters.isEmpty {
                waiters.removeFirst().continuation.resume(returning: connection)
            } else {
                idle.append(connection)
            }
        }

        func cancelWaiter(_ id: UInt64) {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
            waiters.remove(at: index).continuation.resume(throwing: CancellationError())
        }

        func close() async {
            closed = true
            let toClose = idle
            idle.removeAll()
            opened -= toClose.count
            for waiter in waiters { waiter.continuation.resume(returning: nil) }
            waiters.removeAll()
            for connection in toClose { await connection.close() }
        }
    }
}
