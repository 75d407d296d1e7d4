import Foundation

/// A Swift value that can be bound as a statement parameter.
public protocol PostgresEncodable: Sendable {
    var sqlValue: SQLValue { get }
}

/// A Swift value that can be read from a result column in PostgreSQL's text form.
public protocol PostgresDecodable {
    /// Decodes a non-NULL cell; throws `PostgresDecodingFailure` with a reason.
    init(postgresText text: String, type: PostgresDataType) throws
    /// The value for a NULL cell, or `nil` when NULL is not acceptable for this type.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

/// Why one cell could not be decoded; the row turns it into a `PostgresError` that names
/// the column and the Swift type.
public struct PostgresDecodingFailure: Error, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// An element type of PostgreSQL arrays. The element type decides how an array of it is
/// bound, which is how `[UInt8]` becomes `bytea` while `[Int]` becomes `int8[]`.
public protocol PostgresArrayElement: Sendable {
    static func sqlValue(forArray elements: [Self]) -> SQLValue
    static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Self]
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public var sqlValue: SQLValue { Element.sqlValue(forArray: self) }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = try Element.decodeArray(postgresText: text, type: type)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self = .some(try Wrapped(postgresText: text, type: type))
    }
    public static var postgresNull: Self? { .some(nil) }
}

extension SQLValue: PostgresEncodable {
    public var sqlValue: SQLValue { self }
}

private func parseElements<T>(_ text: String, _ type: PostgresDataType, _ parse: (String) -> T?) throws -> [T] {
    guard let items = PostgresText.parseArray(text) else {
        throw PostgresDecodingFailure("not a one-dimensional array literal")
    }
    return try items.enumerated().map { index, item in
        guard let item else { throw PostgresDecodingFailure("array element \(index) is NULL") }
        guard let value = parse(item) else { throw PostgresDecodingFailure("array element \(index) is not a \(T.self)") }
        return value
    }
}

// MARK: - Strings

extension String: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .text(self) }
    public init(postgresText text: String, type: PostgresDataType) throws { self = text }
    public static func sqlValue(forArray elements: [String]) -> SQLValue { .textArray(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [String] {
        try parseElements(text, type) { $0 }
    }
}

// MARK: - Integers

private func parseInteger<T: FixedWidthInteger>(_ text: String, _ type: PostgresDataType) throws -> T {
    guard let value = T(text) else {
        throw PostgresDecodingFailure(Int64(text) != nil ? "value out of range for \(T.self)" : "not an integer")
    }
    return value
}

extension Int: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .int64(Int64(self)) }
    public init(postgresText text: String, type: PostgresDataType) throws { self = try parseInteger(text, type) }
    public static func sqlValue(forArray elements: [Int]) -> SQLValue { .int64Array(elements.map(Int64.init)) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Int] {
        try parseElements(text, type) { Int($0) }
    }
}

extension Int64: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .int64(self) }
    public init(postgresText text: String, type: PostgresDataType) throws { self = try parseInteger(text, type) }
    public static func sqlValue(forArray elements: [Int64]) -> SQLValue { .int64Array(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Int64] {
        try parseElements(text, type) { Int64($0) }
    }
}

extension Int32: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .int32(self) }
    public init(postgresText text: String, type: PostgresDataType) throws { self = try parseInteger(text, type) }
    public static func sqlValue(forArray elements: [Int32]) -> SQLValue { .int32Array(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Int32] {
        try parseElements(text, type) { Int32($0) }
    }
}

extension Int16: PostgresEncodable, PostgresDecodable {
    public var sqlValue: SQLValue { .int16(self) }
    public init(postgresText text: String, type: PostgresDataType) throws { self = try parseInteger(text, type) }
}

/// `UInt8` is only an array element: `[UInt8]` is bound and decoded as `bytea`.
extension UInt8: PostgresArrayElement {
    public static func sqlValue(forArray elements: [UInt8]) -> SQLValue { .bytea(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [UInt8] {
        guard let bytes = PostgresText.parseHexBytea(text) else {
            throw PostgresDecodingFailure("not bytea in hex form")
        }
        return bytes
    }
}

// MARK: - Floating point

extension Double: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .double(self) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Double(text) else { throw PostgresDecodingFailure("not a floating-point number") }
        self = value
    }
    public static func sqlValue(forArray elements: [Double]) -> SQLValue { .doubleArray(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Double] {
        try parseElements(text, type) { Double($0) }
    }
}

extension Float: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .float(self) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let value = Float(text) else { throw PostgresDecodingFailure("not a floating-point number") }
        self = value
    }
    public static func sqlValue(forArray elements: [Float]) -> SQLValue { .floatArray(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Float] {
        try parseElements(text, type) { Float($0) }
    }
}

// MARK: - Others

extension Bool: PostgresEncodable, PostgresDecodable, PostgresArrayElement {
    public var sqlValue: SQLValue { .bool(self) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecodingFailure("not a boolean")
        }
    }
    public static func sqlValue(forArray elements: [Bool]) -> SQLValue { .boolArray(elements) }
    public static func decodeArray(postgresText text: String, type: PostgresDataType) throws -> [Bool] {
        try parseElements(text, type) { $0 == "t" ? true : $0 == "f" ? false : nil }
    }
}

extension Data: PostgresEncodable, PostgresDecodable {
    public var sqlValue: SQLValue { .bytea([UInt8](self)) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let bytes = PostgresText.parseHexBytea(text) else { throw PostgresDecodingFailure("not bytea in hex form") }
        self = Data(bytes)
    }
}

extension Date: PostgresEncodable, PostgresDecodable {
    public var sqlValue: SQLValue { .timestamptz(self) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let date = PostgresText.parseTimestamp(text) else {
            throw PostgresDecodingFailure("not an ISO timestamp in UTC")
        }
        self = date
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public var sqlValue: SQLValue { .uuid(self) }
    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let uuid = UUID(uuidString: text) else { throw PostgresDecodingFailure("not a UUID") }
        self = uuid
    }
}
