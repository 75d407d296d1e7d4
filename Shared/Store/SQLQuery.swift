import Foundation

/// A SQL statement whose interpolated values become `$n` bind parameters.
///
///     let rows = try await db.query("SELECT * FROM blobs WHERE sha256 = \(hash) AND size > \(minimum)")
///
/// Values never enter the SQL text. Raw SQL can only be spliced in with an explicit
/// `\(unsafeSQL: ...)`, and identifiers with `\(identifier: ...)`, which quotes them.
public struct SQLQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Fragment: Sendable {
        case sql(String)
        case bind(SQLValue?)
    }

    var fragments: [Fragment]
    /// The first problem met while building (a value that could not be encoded); thrown
    /// when the query is run, because interpolation itself cannot throw.
    var buildError: PostgresError?

    public init(stringLiteral value: String) {
        fragments = [.sql(value)]
    }

    public init(stringInterpolation: StringInterpolation) {
        fragments = stringInterpolation.fragments
        buildError = stringInterpolation.buildError
    }

    /// Raw SQL with no parameters. The caller vouches that `sql` holds no untrusted text.
    public init(unsafeSQL sql: String) {
        fragments = [.sql(sql)]
    }

    /// Appends another query, renumbering its binds after this one's.
    public mutating func append(_ other: SQLQuery) {
        fragments += other.fragments
        if buildError == nil { buildError = other.buildError }
    }

    public static func + (lhs: SQLQuery, rhs: SQLQuery) -> SQLQuery {
        var result = lhs
        result.append(rhs)
        return result
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var fragments: [Fragment] = []
        var buildError: PostgresError?

        public init(literalCapacity: Int, interpolationCount: Int) {
            fragments.reserveCapacity(interpolationCount * 2 + 1)
        }

        public mutating func appendLiteral(_ literal: String) {
            fragments.append(.sql(literal))
        }

        /// A bound value.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            fragments.append(.bind(value.sqlValue))
        }

        /// A bound value, or NULL.
        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            fragments.append(.bind(value?.sqlValue))
        }

        /// A value encoded as JSON and bound as `jsonb` (NULL when `nil`).
        public mutating func appendInterpolation(json value: (some Encodable)?) {
            guard let value else { fragments.append(.bind(nil)); return }
            do {
                fragments.append(.bind(try SQLValue.json(value)))
            } catch {
                fragments.append(.bind(nil))
                if buildError == nil {
                    buildError = PostgresError(.bind, message: "cannot encode a \(type(of: value)) as JSON: \(error)")
                }
            }
        }

        /// A table, column or schema name, validated and double-quoted (`a.b` names a schema-qualified table).
        public mutating func appendInterpolation(identifier: String) {
            do {
                fragments.append(.sql(try SQLIdentifier.quoted(identifier)))
            } catch let error as PostgresError {
                fragments.append(.sql("\"\""))
                if buildError == nil { buildError = error }
            } catch {
                preconditionFailure("SQLIdentifier.quoted throws only PostgresError")
            }
        }

        /// Another query spliced in with its binds (numbered in place), e.g. a condition built apart.
        public mutating func appendInterpolation(sql query: SQLQuery) {
            fragments += query.fragments
            if buildError == nil { buildError = query.buildError }
        }

        /// Raw SQL text, spliced as is. Only for SQL written in this program, never for values.
        public mutating func appendInterpolation(unsafeSQL sql: String) {
            fragments.append(.sql(sql))
        }
    }

    /// The statement with `$1...$n` parameter markers and the values in order.
    public func rendered() throws -> (sql: String, binds: [SQLValue?]) {
        if let buildError { throw buildError }
        var sql = ""
        var binds: [SQLValue?] = []
        for fragment in fragments {
            switch fragment {
            case .sql(let text): sql += text
            case .bind(let value):
                binds.append(value)
                sql += "$\(binds.count)"
            }
        }
        return (sql, binds)
    }

    /// The SQL with parameter markers; values are never shown.
    public var description: String {
        (try? rendered().sql) ?? "<query with an unencodable value>"
    }
}

/// Quoting of SQL identifiers (table, column, schema names).
public enum SQLIdentifier {
    /// `name` or `schema.name`, each part double-quoted with embedded quotes doubled.
    /// Quoted names are case-sensitive: pass them as they are stored (normally lower case).
    public static func quoted(_ name: String) throws -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }) else {
            throw PostgresError(.bind, message: "\"\(name.prefix(80))\" is not a valid name (expected name or schema.name)")
        }
        return try parts.map { part -> String in
            if part.utf8.contains(0) || part.utf8.count > 63 {
                throw PostgresError(.bind, message: "identifier \"\(part.prefix(80))\" is longer than 63 bytes or contains NUL")
            }
            return "\"" + part.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ".")
    }
}
