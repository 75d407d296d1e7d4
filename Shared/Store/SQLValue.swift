import Foundation

/// A value bound to a statement parameter or written by COPY, in one of the PostgreSQL
/// types the store speaks. `nil` (as `SQLValue?`) is SQL NULL.
public enum SQLValue: Sendable, Hashable {
    case text(String)
    case int16(Int16)
    case int32(Int32)
    case int64(Int64)
    case float(Float)
    case double(Double)
    case bool(Bool)
    case bytea([UInt8])
    case timestamptz(Date)
    case uuid(UUID)
    /// JSON text, bound as `jsonb`.
    case jsonb(String)
    case textArray([String])
    case int64Array([Int64])
    case int32Array([Int32])
    case doubleArray([Double])
    case floatArray([Float])
    case boolArray([Bool])

    /// Encodes `value` as JSON, to be bound as `jsonb`.
    public static func json(_ value: some Encodable, encoder: JSONEncoder = SQLValue.defaultJSONEncoder) throws -> SQLValue {
        let data = try encoder.encode(value)
        return .jsonb(String(decoding: data, as: UTF8.self))
    }

    /// Sorted keys make equal values produce equal JSON text, so jsonb rows diff cleanly.
    public static var defaultJSONEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// The PostgreSQL type this value is bound as.
    public var dataType: PostgresDataType {
        switch self {
        case .text: .text
        case .int16: .int2
        case .int32: .int4
        case .int64: .int8
        case .float: .float4
        case .double: .float8
        case .bool: .bool
        case .bytea: .bytea
        case .timestamptz: .timestamptz
        case .uuid: .uuid
        case .jsonb: .jsonb
        case .textArray: .textArray
        case .int64Array: .int8Array
        case .int32Array: .int4Array
        case .doubleArray: .float8Array
        case .floatArray: .float4Array
        case .boolArray: .boolArray
        }
    }

    /// The value in PostgreSQL's text input form (bytea as `\x` hex, arrays as `{...}`).
    /// Throws for text that PostgreSQL cannot store (a NUL character).
    public func textForm() throws -> String {
        switch self {
        case .text(let string): return try PostgresText.checked(string)
        case .int16(let value): return String(value)
        case .int32(let value): return String(value)
        case .int64(let value): return String(value)
        case .float(let value): return PostgresText.float(value)
        case .double(let value): return PostgresText.double(value)
        case .bool(let value): return value ? "t" : "f"
        case .bytea(let bytes): return PostgresText.hexBytea(bytes)
        case .timestamptz(let date): return PostgresText.timestamp(date)
        case .uuid(let uuid): return uuid.uuidString.lowercased()
        case .jsonb(let json): return try PostgresText.checked(json)
        case .textArray(let items): return try PostgresText.arrayLiteral(items.map { try PostgresText.quotedElement(PostgresText.checked($0)) })
        case .int64Array(let items): return PostgresText.arrayLiteral(items.map { String($0) })
        case .int32Array(let items): return PostgresText.arrayLiteral(items.map { String($0) })
        case .doubleArray(let items): return PostgresText.arrayLiteral(items.map { PostgresText.quotedElement(PostgresText.double($0)) })
        case .floatArray(let items): return PostgresText.arrayLiteral(items.map { PostgresText.quotedElement(PostgresText.float($0)) })
        case .boolArray(let items): return PostgresText.arrayLiteral(items.map { $0 ? "t" : "f" })
        }
    }
}

/// A PostgreSQL type, by its OID in `pg_type`.
public struct PostgresDataType: Hashable, Sendable, CustomStringConvertible {
    public let oid: UInt32
    public init(oid: UInt32) { self.oid = oid }

    public static let bool = PostgresDataType(oid: 16)
    public static let bytea = PostgresDataType(oid: 17)
    public static let name = PostgresDataType(oid: 19)
    public static let int8 = PostgresDataType(oid: 20)
    public static let int2 = PostgresDataType(oid: 21)
    public static let int4 = PostgresDataType(oid: 23)
    public static let text = PostgresDataType(oid: 25)
    public static let oidType = PostgresDataType(oid: 26)
    public static let json = PostgresDataType(oid: 114)
    public static let float4 = PostgresDataType(oid: 700)
    public static let float8 = PostgresDataType(oid: 701)
    public static let bpchar = PostgresDataType(oid: 1042)
    public static let varchar = PostgresDataType(oid: 1043)
    public static let date = PostgresDataType(oid: 1082)
    public static let timestamp = PostgresDataType(oid: 1114)
    public static let timestamptz = PostgresDataType(oid: 1184)
    public static let numeric = PostgresDataType(oid: 1700)
    public static let uuid = PostgresDataType(oid: 2950)
    public static let jsonb = PostgresDataType(oid: 3802)
    public static let boolArray = PostgresDataType(oid: 1000)
    public static let int2Array = PostgresDataType(oid: 1005)
    public static let int4Array = PostgresDataType(oid: 1007)
    public static let textArray = PostgresDataType(oid: 1009)
    public static let varcharArray = PostgresDataType(oid: 1015)
    public static let int8Array = PostgresDataType(oid: 1016)
    public static let float4Array = PostgresDataType(oid: 1021)
    public static let float8Array = PostgresDataType(oid: 1022)

    private static let names: [UInt32: String] = [
        16: "bool", 17: "bytea", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text",
        26: "oid", 114: "json", 700: "float4", 701: "float8", 1042: "bpchar", 1043: "varchar",
        1082: "date", 1114: "timestamp", 1184: "timestamptz", 1700: "numeric", 2950: "uuid",
        3802: "jsonb", 1000: "bool[]", 1005: "int2[]", 1007: "int4[]", 1009: "text[]",
        1015: "varchar[]", 1016: "int8[]", 1021: "float4[]", 1022: "float8[]",
    ]

    public var description: String { Self.names[oid] ?? "oid \(oid)" }
}

/// PostgreSQL's text forms of values, both ways.
enum PostgresText {
    static func checked(_ string: String) throws -> String {
        if string.utf8.contains(0) {
            throw PostgresError(.bind, message: "text values cannot contain the NUL character (PostgreSQL does not store it)")
        }
        return string
    }

    static func double(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return value.description
    }

    static func float(_ value: Float) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return value.description
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hexBytea(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(2 + bytes.count * 2)
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "x"))
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes bytea's hex output form (`\x0a1b...`).
    static func parseHexBytea(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func arrayLiteral(_ elements: [String]) -> String {
        "{" + elements.joined(separator: ",") + "}"
    }

    /// An array element in double quotes, with `"` and `\` escaped, so any text
    /// (including `NULL`, commas and braces) stays one literal element.
    static func quotedElement(_ text: String) -> String {
        var out = "\""
        for ch in text.unicodeScalars {
            if ch == "\"" || ch == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(ch)
        }
        out += "\""
        return out
    }

    /// Splits a one-dimensional array's text output into its elements (`nil` for NULL).
    static func parseArray(_ text: String) -> [String?]? {
        var scalars = Array(text.unicodeScalars)
        // Arrays with non-default bounds print as "[0:2]={...}".
        if scalars.first == "[" {
            guard let eq = scalars.firstIndex(of: "=") else { return nil }
            scalars = Array(scalars[(eq + 1)...])
        }
        guard scalars.first == "{", scalars.last == "}" else { return nil }
        let body = scalars[1..<(scalars.count - 1)]
        if body.isEmpty { return [] }
        var elements: [String?] = []
        var index = body.startIndex
        while index <= body.endIndex {
            var current = String.UnicodeScalarView()
            var quoted = false
            if index < body.endIndex, body[index] == "\"" {
                quoted = true
                index += 1
                while index < body.endIndex, body[index] != "\"" {
                    if body[index] == "\\" { index += 1; guard index < body.endIndex else { return nil } }
                    current.append(body[index])
                    index += 1
                }
                guard index < body.endIndex else { return nil }
                index += 1  // closing quote
            } else {
                while index < body.endIndex, body[index] != "," {
                    if body[index] == "{" { return nil }  // nested arrays are not decoded here
                    current.append(body[index])
                    index += 1
                }
            }
            let element = String(current)
            elements.append(!quoted && element == "NULL" ? nil : element)
            if index == body.endIndex { break }
            guard body[index] == "," else { return nil }
            index += 1
            if index == body.endIndex { return nil }
        }
        return elements
    }

    // MARK: timestamps, always exchanged in UTC with microseconds

    /// `2024-05-01 12:34:56.123456+00`; the session runs with TimeZone=UTC.
    static func timestamp(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microOfDay) = floorDivide(micros, 86_400_000_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = microOfDay / 1_000_000
        let fraction = microOfDay % 1_000_000
        let bc = year <= 0
        let shownYear = bc ? 1 - year : year
        var text = pad(shownYear, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + " "
        text += pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        text += "." + pad(fraction, 6) + "+00"
        if bc { text += " BC" }
        return text
    }

    /// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH[:MM[:SS]]][ BC]` and `[-]infinity`.
    static func parseTimestamp(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        var rest = Substring(text)
        var bc = false
        if rest.hasSuffix(" BC") { bc = true; rest = rest.dropLast(3) }
        let parts = rest.split(separator: " ", maxSplits: 1)
        guard let datePart = parts.first else { return nil }
        let dateFields = datePart.split(separator: "-")
        guard dateFields.count == 3, var year = Int64(dateFields[0]), let month = Int64(dateFields[1]),
              let day = Int64(dateFields[2]), (1...12).contains(month), (1...31).contains(day) else { return nil }
        if bc { year = 1 - year }
        var micros = days(fromCivil: year, month, day) * 86_400_000_000
        if parts.count == 2 {
            var time = parts[1]
            var offsetSeconds: Int64 = 0
            if let signIndex = time.firstIndex(where: { $0 == "+" || $0 == "-" }) {
                let sign: Int64 = time[signIndex] == "-" ? -1 : 1
                let fields = time[time.index(after: signIndex)...].split(separator: ":")
                guard !fields.isEmpty, fields.count <= 3 else { return nil }
                var total: Int64 = 0
                for (i, field) in fields.enumerated() {
                    guard let v = Int64(field) else { return nil }
                    total += v * [3600, 60, 1][i]
                }
                offsetSeconds = sign * total
                time = time[..<signIndex]
            }
            let hms = time.split(separator: ":")
            guard hms.count == 3, let hours = Int64(hms[0]), let minutes = Int64(hms[1]) else { return nil }
            let secondParts = hms[2].split(separator: ".", maxSplits: 1)
            guard let seconds = Int64(secondParts[0]) else { return nil }
            var fraction: Int64 = 0
            if secondParts.count == 2 {
                let digits = secondParts[1].prefix(6)
                guard let value = Int64(digits) else { return nil }
                fraction = value
                for _ in digits.count..<6 { fraction *= 10 }
            }
            micros += ((hours * 60 + minutes) * 60 + seconds - offsetSeconds) * 1_000_000 + fraction
        }
        return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// A proleptic Gregorian date to days since 1970-01-01.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
