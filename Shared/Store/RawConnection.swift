import CLibPQ
import Foundation

/// The only type that touches libpq's `PGconn`. Every method blocks and must run on the
/// owning connection's serial queue, never on Swift's cooperative pool.
final class RawConnection {
    private(set) var handle: OpaquePointer?
    let configuration: PostgresConfiguration
    /// The id of the open transaction, if any; statements outside it are refused.
    var openTransaction: UInt64?
    /// Set by `close()`: the session is not reopened after that.
    var isClosedByOwner = false
    private var nextTransactionID: UInt64 = 0

    init(configuration: PostgresConfiguration) {
        self.configuration = configuration
    }

    deinit { close() }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        openTransaction = nil
    }

    func beginTransactionID() -> UInt64 {
        nextTransactionID += 1
        return nextTransactionID
    }

    // MARK: connecting

    func connect() throws {
        close()
        let parameters = configuration.connectParameters
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordArray = keywords.map { UnsafePointer<CChar>($0) } + [nil]
        let valueArray = values.map { UnsafePointer<CChar>($0) } + [nil]
        let connection = keywordArray.withUnsafeBufferPointer { k in
            valueArray.withUnsafeBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let connection else {
            throw PostgresError(.connectionFailed, message: "cannot connect to PostgreSQL at \(configuration): out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let reason = Self.clean(String(cString: PQerrorMessage(connection)))
            PQfinish(connection)
            throw PostgresError(.connectionFailed,
                                message: "cannot connect to PostgreSQL at \(configuration): \(configuration.redact(reason))")
        }
        handle = connection
    }

    /// Whether the session is usable. Reads whatever the server has sent, so a session that
    /// the server closed (e.g. `pg_terminate_backend`, restart) is noticed before the next
    /// statement is sent on it.
    var isHealthy: Bool {
        guard let handle else { return false }
        if PQstatus(handle) != CONNECTION_OK { return false }
        // An idle session has nothing to read. If the socket is readable, the server sent
        // something unasked (a FATAL notice before closing, then end-of-file): let libpq read
        // it, which marks the session bad once it meets the end of the stream.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            if PQconsumeInput(handle) == 0 { break }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    var serverVersion: Int32 {
        guard let handle else { return 0 }
        return PQserverVersion(handle)
    }

    var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    private func requireHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(.connectionLost, message: "no open session with PostgreSQL at \(configuration)")
        }
        return handle
    }

    // MARK: statements

    /// Runs one statement with parameters (extended protocol, text results).
    func execute(_ sql: String, binds: [SQLValue?]) throws -> PostgresResult {
        let handle = try requireHandle()
        return try check(try send(sql, binds: binds, handle: handle, binaryResults: false), handle: handle) { result in
            PostgresResult(copying: result)
        }
    }

    /// Runs a query whose only column is bytea and returns each row's bytes as the server
    /// holds them (binary results: no hex text to build and parse for large blobs).
    func byteaColumn(_ sql: String, binds: [SQLValue?]) throws -> [[UInt8]?] {
        let handle = try requireHandle()
        return try check(try send(sql, binds: binds, handle: handle, binaryResults: true), handle: handle) { result in
            try Self.byteaRows(result)
        }
    }

    /// The rows of a binary-format result whose only column is bytea.
    private static func byteaRows(_ result: OpaquePointer) throws -> [[UInt8]?] {
        guard PQnfields(result) == 1, PQftype(result, 0) == PostgresDataType.bytea.oid else {
            let types = (0..<PQnfields(result)).map { PostgresDataType(oid: PQftype(result, $0)).description }
            throw PostgresError(.decoding, message: "expected one bytea column, the query returned (\(types.joined(separator: ", ")))")
        }
        return (0..<PQntuples(result)).map { row in
            if PQgetisnull(result, row, 0) == 1 { return nil }
            let count = Int(PQgetlength(result, row, 0))
            guard count > 0, let value = PQgetvalue(result, row, 0) else { return [] }
            return value.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
        }
    }

    /// Sends one statement with its parameters and waits for the result (nil: none came).
    private func send(_ sql: String, binds: [SQLValue?], handle: OpaquePointer, binaryResults: Bool) throws -> OpaquePointer? {
        // Parameters: bytea goes in binary form (raw bytes), everything else in text form.
        var types: [Oid] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        types.reserveCapacity(binds.count)
        defer { buffers.forEach { free($0) } }
        for bind in binds {
            guard let bind else {
                types.append(0); lengths.append(0); formats.append(0); buffers.append(nil)
                continue
            }
            types.append(bind.dataType.oid)
            if case .bytea(let bytes) = bind {
                guard let buffer = malloc(max(bytes.count, 1)) else {
                    throw PostgresError(.bind, message: "cannot allocate \(bytes.count) bytes for a bytea parameter")
                }
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { buffer.copyMemory(from: base, byteCount: raw.count) }
                }
                buffers.append(buffer.assumingMemoryBound(to: CChar.self))
                lengths.append(Int32(bytes.count))
                formats.append(1)
            } else {
                buffers.append(strdup(try bind.textForm()))
                lengths.append(0)
                formats.append(0)
            }
        }
        let values = buffers.map { UnsafePointer<CChar>($0) }
        return PQexecParams(handle, sql, Int32(binds.count), types, values, lengths, formats, binaryResults ? 1 : 0)
    }

    /// Runs one or more statements without parameters (simple protocol), e.g. a migration.
    func executeScript(_ sql: String) throws -> PostgresResult {
        let handle = try requireHandle()
        return try check(PQexec(handle, sql), handle: handle) { PostgresResult(copying: $0) }
    }

    /// Turns a `PGresult` into what `read` makes of it, or an error, clearing it in every case.
    private func check<T>(_ result: OpaquePointer?, handle: OpaquePointer, read: (OpaquePointer) throws -> T) throws -> T {
        guard let result else {
            throw lostOrFailed(handle, "no result from the server")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return try read(result)
        default:
            if PQstatus(handle) != CONNECTION_OK {
                throw lostOrFailed(handle, String(cString: PQresultErrorMessage(result)))
            }
            throw serverError(result)
        }
    }

    /// An error for a session that broke, or for a failure without a result.
    func lostOrFailed(_ handle: OpaquePointer, _ fallback: String) -> PostgresError {
        let message = Self.clean(String(cString: PQerrorMessage(handle)))
        let reason = configuration.redact(message.isEmpty ? Self.clean(fallback) : message)
        if PQstatus(handle) != CONNECTION_OK {
            openTransaction = nil
            return PostgresError(.connectionLost, message: "lost the session with PostgreSQL at \(configuration): \(reason)")
        }
        return PostgresError(.sql, message: reason)
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        var error = PostgresError(
            .sql, sqlState: field("C"),
            message: configuration.redact(field("M") ?? Self.clean(String(cString: PQresultErrorMessage(result)))),
            serverDetail: field("D"), serverHint: field("H"))
        if let severity = field("S"), severity == "FATAL" || severity == "PANIC" {
            error.message = "\(severity): \(error.message)"
        }
        return error
    }

    // MARK: COPY FROM STDIN

    func copyStart(_ sql: String) throws {
        let handle = try requireHandle()
        guard let result = PQexec(handle, sql) else { throw lostOrFailed(handle, "COPY could not start") }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else {
            if PQstatus(handle) != CONNECTION_OK { throw lostOrFailed(handle, String(cString: PQresultErrorMessage(result))) }
            var error = serverError(result)
            error.code = .copy
            throw error
        }
    }

    func copySend(_ bytes: [UInt8]) throws {
        let handle = try requireHandle()
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        if status != 1 { throw lostOrFailed(handle, "COPY data could not be sent") }
    }

    /// Ends the COPY (or aborts it with `abortReason`) and returns the rows written.
    func copyEnd(abortReason: String?) throws -> Int {
        let handle = try requireHandle()
        let status = abortReason.map { PQputCopyEnd(handle, $0) } ?? PQputCopyEnd(handle, nil)
        if status != 1 { throw lostOrFailed(handle, "COPY could not be finished") }
        var outcome: Result<Int, PostgresError> = .success(0)
        // Drain every result so the session is ready for the next statement.
        while let result = PQgetResult(handle) {
            defer { PQclear(result) }
            if case .success = outcome {
                if PQresultStatus(result) == PGRES_COMMAND_OK {
                    outcome = .success(Int(String(cString: PQcmdTuples(result))) ?? 0)
                } else {
                    var error = serverError(result)
                    error.code = .copy
                    outcome = .failure(error)
                }
            }
        }
        if PQstatus(handle) != CONNECTION_OK { throw lostOrFailed(handle, "COPY ended with a broken session") }
        return try outcome.get()
    }

    static func clean(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}

/// The rows and command status of one statement, copied out of a `PGresult`.
struct PostgresResult: Sendable {
    var rows: [PostgresRow]
    var affectedRows: Int
    /// The command tag, e.g. `INSERT 0 1` or `ROLLBACK`.
    var commandTag: String

    init(copying result: OpaquePointer) {
        let fieldCount = Int(PQnfields(result))
        let tupleCount = Int(PQntuples(result))
        var names: [String] = []
        var types: [PostgresDataType] = []
        for column in 0..<fieldCount {
            names.append(String(cString: PQfname(result, Int32(column))))
            types.append(PostgresDataType(oid: PQftype(result, Int32(column))))
        }
        let columns = PostgresColumns(names: names, types: types)
        var rows: [PostgresRow] = []
        rows.reserveCapacity(tupleCount)
        for row in 0..<tupleCount {
            var cells: [String?] = []
            cells.reserveCapacity(fieldCount)
            for column in 0..<fieldCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    cells.append(nil)
                } else {
                    cells.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(PostgresRow(columns: columns, cells: cells))
        }
        self.rows = rows
        self.affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
        self.commandTag = String(cString: PQcmdStatus(result))
    }
}
