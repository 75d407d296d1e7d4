/// Rows in COPY's text format: tab between columns, newline after each row, `\N` for NULL,
/// and backslash escapes for the characters that would otherwise break the framing.
struct CopyTextEncoder {
    static let flushThreshold = 256 * 1024

    let columnCount: Int
    private(set) var buffer: [UInt8] = []

    init(columnCount: Int) {
        self.columnCount = columnCount
        buffer.reserveCapacity(Self.flushThreshold + 4096)
    }

    mutating func append(_ row: [SQLValue?], rowNumber: Int, table: String) throws {
        guard row.count == columnCount else {
            throw PostgresError(.copy, message: "COPY into \(table): row \(rowNumber) has \(row.count) values for \(columnCount) columns")
        }
        for (index, value) in row.enumerated() {
            if index > 0 { buffer.append(0x09) }
            guard let value else {
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(UInt8(ascii: "N"))
                continue
            }
            Self.escape(try value.textForm(), into: &buffer)
        }
        buffer.append(0x0A)
    }

    mutating func take() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    static func escape(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0B: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "v"))
            default: out.append(byte)
            }
        }
    }
}
