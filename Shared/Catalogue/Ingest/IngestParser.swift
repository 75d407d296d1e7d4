import DataSynth
import Domain
import Foundation

/// A row the parsing layer could not read, and the catalogue dataset it belonged to.
public struct RowProblem: Sendable, Equatable {
    public var dataset: String
    public var error: IngestError

    public init(dataset: String, error: IngestError) {
        self.dataset = dataset
        self.error = error
    }
}

/// What parsing a tree gives: the rows read and the rows that could not be read.
/// Layout problems (no metadata file, a missing column) are thrown instead.
public struct ParsedDataset: Sendable {
    public var rows: [IngestRow]
    public var problems: [RowProblem]

    public init(rows: [IngestRow] = [], problems: [RowProblem] = []) {
        self.rows = rows
        self.problems = problems
    }
}

/// Turns a dataset's files, as distributed, into `IngestRow`s. Pure: it sees a listing
/// and file contents only, through `IngestFileTree`.
public enum IngestParser {
    public static func parse(_ format: IngestFormat, tree: some IngestFileTree) throws(IngestError) -> ParsedDataset {
        let images = ImageIndex(paths: tree.paths)
        switch format {
        case .ham10000: return try parseHAM10000(tree, images)
        case .isic2019: return try parseISIC2019(tree, images)
        case .bcn20000: return try parseBCN20000(tree, images)
        case .padUfes20: return try parsePADUFES20(tree, images)
        case .derm7pt: return try parseDerm7pt(tree, images)
        case .derm12345: return try parseDERM12345(tree, images)
        case .dermnet: return parseDermNet(tree)
        case .omnimedvqa: return try parseOmniMedVQA(tree)
        }
    }

    // MARK: Helpers

    /// The shallowest file with one of the names (case-insensitive), optionally inside a
    /// folder with the given name.
    static func findFile(in tree: some IngestFileTree, format: String, names: [String], under folder: String? = nil) throws(IngestError) -> String {
        guard let path = findOptionalFile(in: tree, names: names, under: folder) else {
            let place = folder.map { " in a \($0)/ folder" } ?? ""
            throw IngestError(.layout, file: ".", row: nil,
                              "no \(names.joined(separator: " or "))\(place) below the root; is this a \(format) tree?")
        }
        return path
    }

    static func findOptionalFile(in tree: some IngestFileTree, names: [String], under folder: String? = nil) -> String? {
        let wanted = Set(names.map { $0.lowercased() })
        return tree.paths
            .filter { wanted.contains(RelativePath.fileName($0).lowercased()) }
            .filter { folder == nil || RelativePath.fileName(RelativePath.directory($0)) == folder }
            .min { ($0.filter { $0 == "/" }.count, $0) < ($1.filter { $0 == "/" }.count, $1) }
    }

    static func nonEmpty(_ table: CSVTable, _ record: CSVTable.Record, _ column: Int, _ name: String) throws(IngestError) -> String {
        let value = try table.field(record, column)
        guard !value.isEmpty else { throw IngestError(.malformedRow, file: table.file, row: record.line, "empty \(name)") }
        return value
    }

    static func optional(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty || trimmed.lowercased() == "nan" ? nil : trimmed
    }

    static func metadataFields(_ table: CSVTable, _ record: CSVTable.Record, _ names: [String]) throws(IngestError) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for name in names {
            let value = try table.field(record, table.column(name))
            if let value = optional(value) { fields[name] = .string(value) }
        }
        return fields
    }

    /// The one class column of a one-hot row that holds 1.
    static func oneHotClass(_ table: CSVTable, _ record: CSVTable.Record, skipping: Set<Int>) throws(IngestError) -> String {
        var hot: [String] = []
        for (column, name) in table.header.enumerated() where !skipping.contains(column) {
            let text = try table.field(record, column)
            guard let value = Double(text), value == 0 || value == 1 else {
                throw IngestError(.malformedRow, file: table.file, row: record.line,
                                  "column \(name) holds \"\(text)\", expected 0 or 1")
            }
            if value == 1 { hot.append(name) }
        }
        guard hot.count == 1 else {
            throw IngestError(.malformedRow, file: table.file, row: record.line,
                              hot.isEmpty ? "no class column holds 1" : "several class columns hold 1: \(hot.joined(separator: ", "))")
        }
        return hot[0]
    }
}

/// Image files of a tree by name and by stem.
struct ImageIndex {
    private let byName: [String: [String]]
    private let byStem: [String: [String]]
    private let all: Set<String>

    init(paths: [String]) {
        var byName: [String: [String]] = [:]
        var byStem: [String: [String]] = [:]
        for path in paths where RelativePath.imageExtensions.contains(RelativePath.fileExtension(path)) {
            byName[RelativePath.fileName(path), default: []].append(path)
            byStem[RelativePath.stem(path), default: []].append(path)
        }
        self.byName = byName
        self.byStem = byStem
        self.all = Set(paths)
    }

    func contains(_ path: String) -> Bool { all.contains(path) }

    func find(fileName: String, at location: SourceLocation) throws(IngestError) -> String {
        guard let path = byName[fileName]?.first else {
            throw IngestError(.missingImage, at: location, "image \(fileName) not found below the root")
        }
        return path
    }

    /// An image `<stem>.jpg/.jpeg/.png`; with several copies (Kaggle's HAM10000 ships the
    /// parts twice), the one in `preferringDirectory` if any, else the first by path.
    func find(stem: String, preferringDirectory directory: String? = nil, at location: SourceLocation) throws(IngestError) -> String {
        guard let paths = byStem[stem], let first = paths.first else {
            throw IngestError(.missingImage, at: location, "image \(stem).jpg not found below the root")
        }
        if let directory, let preferred = paths.first(where: { RelativePath.fileName(RelativePath.directory($0)) == directory }) {
            return preferred
        }
        return first
    }
}
