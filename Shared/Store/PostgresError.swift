/// An error from the store: a failed connection, a rejected statement, a value that could
/// not be bound or decoded, or a misuse of a connection.
///
/// The description names what failed and where, and never contains bound parameter values
/// or passwords: the server's DETAIL (which may echo row values) is kept in `serverDetail`
/// for callers that choose to log it.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// An extensible error code, so new kinds can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The connection string could not be parsed.
        public static let invalidConnectionString = Code("invalid connection string")
        /// The server could not be reached or refused the session (host, auth, database).
        public static let connectionFailed = Code("connection failed")
        /// An open connection broke while a statement was running.
        public static let connectionLost = Code("connection lost")
        /// The connection has been closed by `close()`.
        public static let connectionClosed = Code("connection closed")
        /// The server rejected a statement; `sqlState` says why.
        public static let sql = Code("server error")
        /// A value could not be turned into a bind parameter.
        public static let bind = Code("bind error")
        /// A result column could not be decoded into the requested Swift type.
        public static let decoding = Code("decoding error")
        /// A transaction was opened inside another, or a connection was used around its transaction.
        public static let transactionMisuse = Code("transaction misuse")
        /// A COPY could not be started, fed or finished.
        public static let copy = Code("copy error")
        /// A schema migration could not be applied or verified.
        public static let migration = Code("migration error")
        /// A private cluster could not be created, started or stopped.
        public static let cluster = Code("private cluster error")
    }

    public var code: Code
    /// The five-character SQLSTATE the server sent, when there is one (e.g. `23505`).
    public var sqlState: String?
    /// What went wrong, in words; never contains parameter values or passwords.
    public var message: String
    /// The server's DETAIL field; may contain row values, so it is not part of `description`.
    public var serverDetail: String?
    /// The server's HINT field.
    public var serverHint: String?
    /// Where in this program the error was made.
    public var file: String
    public var line: Int

    public init(
        _ code: Code, sqlState: String? = nil, message: String,
        serverDetail: String? = nil, serverHint: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.serverDetail = serverDetail
        self.serverHint = serverHint
        self.file = file
        self.line = line
    }

    /// Whether trying again later may succeed: lost or unreachable servers, and server
    /// states that are transient (serialization failures, deadlocks, shutdown in progress).
    public var isRetriable: Bool {
        switch code {
        case .connectionLost: return true
        case .connectionFailed: return !isPermanentConnectionFailure
        case .sql:
            guard let state = sqlState else { return false }
            // 40001 serialization_failure, 40P01 deadlock_detected, class 08 connection
            // exceptions, 57P01-57P03 admin shutdown / crash shutdown / cannot connect now.
            return state == "40001" || state == "40P01" || state.hasPrefix("08")
                || state == "57P01" || state == "57P02" || state == "57P03"
        default: return false
        }
    }

    /// Wrong password, unknown role or missing database do not heal by waiting.
    private var isPermanentConnectionFailure: Bool {
        let text = message.lowercased()
        return text.contains("authentication failed") || text.contains("does not exist")
            || text.contains("no password supplied") || text.contains("no pg_hba.conf entry")
    }

    public var description: String {
        var text = "PostgresError(\(code)"
        if let sqlState { text += ", SQLSTATE \(sqlState)" }
        text += "): \(message)"
        if let serverHint { text += " (hint: \(serverHint))" }
        text += " [\(file):\(line)]"
        return text
    }
}
