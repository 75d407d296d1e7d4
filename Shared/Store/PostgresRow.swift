import Foundation

/// The columns of one result: names, types, and a name index shared by all its rows.
public final class PostgresColumns: Sendable {
    public let names: [String]
    public let types: [PostgresDataType]
    private let indexByName: [String: Int]

    init(names: [String], types: [PostgresDataType]) {
        self.names = names
        self.types = types
        var index: [String: Int] = [:]
        // The first column wins when a result has duplicate names, like most drivers.
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        indexByName = index
    }

    public func index(of name: String) -> Int? { indexByName[name] }
}

/// One result row, with cells copied out of libpq's result (which is cleared right after).
public struct PostgresRow: Sendable {
    public let columns: PostgresColumns
    /// Cells in PostgreSQL's text form; `nil` is NULL.
    public let cells: [String?]

    init(columns: PostgresColumns, cells: [String?]) {
        self.columns = columns
        self.cells = cells
    }

    public var count: Int { cells.count }

    /// Whether the named column is NULL in this row.
    public func isNull(_ column: String) throws -> Bool {
        cells[try index(of: column)] == nil
    }

    /// Decodes the named column. Ask for `T?` to accept NULL.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self,
                                              file: String = #fileID, line: Int = #line) throws -> T {
        try decode(at: try index(of: column, file: file, line: line), as: type, file: file, line: line)
    }

    /// Decodes the column at `index` (0-based). Ask for `T?` to accept NULL.
    public func decode<T: PostgresDecodable>(at index: Int, as type: T.Type = T.self,
                                              file: String = #fileID, line: Int = #line) throws -> T {
        guard cells.indices.contains(index) else {
            throw PostgresError(.decoding, message: "column index \(index) is out of range: the row has \(cells.count) columns",
                                file: file, line: line)
        }
        let name = columns.names[index]
        let columnType = columns.types[index]
        guard let text = cells[index] else {
            if let null = T.postgresNull { return null }
            throw PostgresError(.decoding, message: "column \"\(name)\" (\(columnType)) is NULL; decode it as \(T.self)? to accept NULL",
                                file: file, line: line)
        }
        do {
            return try T(postgresText: text, type: columnType)
        } catch let failure as PostgresDecodingFailure {
            throw PostgresError(.decoding, message: "cannot decode column \"\(name)\" (\(columnType)) as \(T.self): \(failure.reason)",
                                file: file, line: line)
        }
    }

    /// Decodes a `json`/`jsonb`/`text` column holding JSON into `T`.
    public func decodeJSON<T: Decodable>(_ column: String, as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder(),
                                         file: String = #fileID, line: Int = #line) throws -> T {
        let index = try index(of: column, file: file, line: line)
        guard let text = cells[index] else {
            throw PostgresError(.decoding, message: "column \"\(column)\" is NULL; cannot decode JSON as \(T.self)", file: file, line: line)
        }
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresError(.decoding, message: "cannot decode JSON in column \"\(column)\" as \(T.self): \(error)", file: file, line: line)
        }
    }

    private func index(of column: String, file: String = #fileID, line: Int = #line) throws -> Int {
        guard let index = columns.index(of: column) else {
            throw PostgresError(.decoding, message: "no column named \"\(column)\" in the result (columns: \(columns.names.joined(separator: ", ")))",
                                file: file, line: line)
        }
        return index
    }
}
