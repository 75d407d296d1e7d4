import Foundation

/// A CSV (or tab-separated) file read into records, each remembering the line it starts
/// on, so that an error can name the file and row a reader would find in an editor.
///
/// Reads RFC 4180 files and the variants datasets ship: a UTF-8 byte-order mark, CRLF or
/// LF line ends, quoted fields holding the delimiter, doubled quotes and line breaks,
/// blank lines (skipped). A quote inside an unquoted field is kept as text; a field that
/// opens a quote and never closes it is an error.
public struct CSVTable: Sendable {
    public struct Record: Sendable, Equatable {
        /// 1-based line of the file where the record starts (the header is line 1).
        public var line: Int
        public var fields: [String]
    }

    public let file: String
    public let header: [String]
    public let records: [Record]
    private let columnIndex: [String: Int]

    /// Parses `text`; with `hasHeader` the first record names the columns (trimmed).
    public init(file: String, text: String, delimiter: Character = ",", hasHeader: Bool = true) throws(IngestError) {
        self.file = file
        var all = try Self.parse(text, file: file, delimiter: delimiter)
        if hasHeader {
            guard !all.isEmpty else { throw IngestError(.malformedRow, file: file, row: 1, "the file is empty; a header row was expected") }
            header = all.removeFirst().fields.map { $0.trimmingCharacters(in: .whitespaces) }
        } else {
            header = []
        }
        records = all
        var index: [String: Int] = [:]
        for (i, name) in header.enumerated() where index[name] == nil { index[name] = i }
        columnIndex = index
    }

    public func hasColumn(_ name: String) -> Bool { columnIndex[name] != nil }

    /// The index of a column, or an error naming the file and the columns it does have.
    public func column(_ name: String) throws(IngestError) -> Int {
        guard let index = columnIndex[name] else {
            throw IngestError(.malformedRow, file: file, row: 1,
                              "missing column \"\(name)\" (columns: \(header.joined(separator: ", ")))")
        }
        return index
    }

    /// The first of several spellings of a column that the file has.
    public func column(anyOf names: [String]) throws(IngestError) -> Int {
        for name in names { if let index = columnIndex[name] { return index } }
        throw IngestError(.malformedRow, file: file, row: 1,
                          "missing column \(names.map { "\"\($0)\"" }.joined(separator: " or ")) (columns: \(header.joined(separator: ", ")))")
    }

    /// A field of a record, trimmed; an error naming file and line when the record is short.
    public func field(_ record: Record, _ column: Int) throws(IngestError) -> String {
        guard column < record.fields.count else {
            throw IngestError(.malformedRow, file: file, row: record.line,
                              "has \(record.fields.count) fields, expected at least \(column + 1)")
        }
        return record.fields[column].trimmingCharacters(in: .whitespaces)
    }

    /// Splits the text into records of fields.
    static func parse(_ text: String, file: String, delimiter: Character) throws(IngestError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var quotedLine = 0
        var fieldWasQuoted = false
        var recordHasContent = false
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        let delimiterScalar = delimiter.unicodeScalars.first!

        func endRecord() {
            fields.append(field)
            if recordHasContent || fields.count > 1 || !field.isEmpty || fieldWasQuoted {
                records.append(Record(line: recordLine, fields: fields))
            }
            fields = []
            field = ""
            fieldWasQuoted = false
            recordHasContent = false
        }

        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < scalars.count, scalars[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    if c == "\r" {
                        // A CRLF inside quotes is one line break, kept as "\n".
                        if i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                        line += 1
                        field.unicodeScalars.append("\n")
                    } else {
                        field.unicodeScalars.append(c)
                    }
                }
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty && !fieldWasQuoted {
                field = ""
                inQuotes = true
                fieldWasQuoted = true
                quotedLine = line
                recordHasContent = true
            } else if c == delimiterScalar {
                fields.append(field)
                field = ""
                fieldWasQuoted = false
                recordHasContent = true
            } else if c == "\n" || c == "\r" {
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            } else {
                if fieldWasQuoted {
                    // Text after a closing quote ("abc"def): keep it, as spreadsheet programs do.
                    if c != " " && c != "\t" { field.unicodeScalars.append(c) }
                } else {
                    field.unicodeScalars.append(c)
                }
            }
            i += 1
        }
        if inQuotes {
            throw IngestError(.malformedRow, file: file, row: quotedLine,
                              "a quoted field opened on line \(quotedLine) is never closed")
        }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRecord() }
        return records
    }
}
