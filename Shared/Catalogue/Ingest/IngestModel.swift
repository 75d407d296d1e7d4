import DataSynth
import Domain
import Foundation

/// The dataset layouts `skinr1 data ingest` reads, as they are distributed.
public enum IngestFormat: String, CaseIterable, Sendable, Codable {
    case ham10000
    case isic2019
    case bcn20000
    case padUfes20 = "pad-ufes-20"
    case derm7pt
    case derm12345
    case dermnet
    case omnimedvqa
}

extension CorpusSplit {
    /// Reads the split names datasets use ("train", "valid", "validation", "val", "test").
    public init?(datasetText: String) {
        switch datasetText.trimmingCharacters(in: .whitespaces).lowercased() {
        case "train", "training": self = .train
        case "val", "valid", "validation": self = .val
        case "test", "testing": self = .test
        default: return nil
        }
    }
}

/// Where an image's row came from: a metadata file and 1-based line, or, for layouts
/// without metadata (DermNet), the image file itself.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var row: Int?

    public init(file: String, row: Int?) {
        self.file = file
        self.row = row
    }

    public var description: String { row.map { "\(file):\($0)" } ?? file }
}

/// One image of a dataset as its files describe it, before labels are mapped: what the
/// parsing layer produces from a directory listing and the metadata files.
public struct IngestRow: Sendable, Equatable {
    /// The label-map dataset whose vocabulary the codes belong to (e.g. "ISIC2019" for
    /// OmniMedVQA's ISIC 2019 questions).
    public var labelDataset: String
    /// The catalogue dataset the row belongs to.
    public var dataset: String
    public var source: SourceLocation
    /// The dataset's own image id (file stem, or a relative path when stems repeat).
    public var imageID: String
    /// Path of the image relative to the import root.
    public var imagePath: String
    /// Label codes by label-map level, as written in the files.
    public var labels: [String: String]
    /// The levels of `labels`, coarse to fine; the finest known one decides the node.
    public var levelOrder: [String]
    /// Lesion or patient id; all images sharing it land in the same split.
    public var groupKey: String?
    /// The split the dataset itself assigns, if any.
    public var officialSplit: CorpusSplit?
    /// Other columns worth keeping (clinical metadata, question text).
    public var metadata: [String: JSONValue]

    public init(labelDataset: String, dataset: String, source: SourceLocation, imageID: String, imagePath: String,
                labels: [String: String], levelOrder: [String], groupKey: String?, officialSplit: CorpusSplit?,
                metadata: [String: JSONValue] = [:]) {
        self.labelDataset = labelDataset
        self.dataset = dataset
        self.source = source
        self.imageID = imageID
        self.imagePath = imagePath
        self.labels = labels
        self.levelOrder = levelOrder
        self.groupKey = groupKey
        self.officialSplit = officialSplit
        self.metadata = metadata
    }

    /// The code of the finest level, as stored in `cases.label_code`.
    public var labelCode: String { levelOrder.reversed().compactMap { labels[$0] }.first ?? "" }
}

/// A small JSON value for case metadata.
public enum JSONValue: Sendable, Equatable, Codable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}

/// What went wrong with an import, naming the file and row.
public struct IngestError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, Codable, CustomStringConvertible {
        public let name: String
        public static let missingImage = Kind(name: "missing image")
        public static let unknownLabel = Kind(name: "unknown label")
        public static let malformedRow = Kind(name: "malformed row")
        public static let unreadableImage = Kind(name: "unreadable image")
        public static let layout = Kind(name: "layout")
        public static let notSeeded = Kind(name: "knowledge not seeded")
        public var description: String { name }
    }

    public let kind: Kind
    public let location: SourceLocation
    public let message: String

    public init(_ kind: Kind, file: String, row: Int?, _ message: String) {
        self.kind = kind
        self.location = SourceLocation(file: file, row: row)
        self.message = message
    }

    public init(_ kind: Kind, at location: SourceLocation, _ message: String) {
        self.kind = kind
        self.location = location
        self.message = message
    }

    public var description: String {
        if let row = location.row { return "\(location.file) row \(row): \(kind): \(message)" }
        return "\(location.file): \(kind): \(message)"
    }
}

/// A row left out of an import, as recorded in `imports.skipped`.
public struct SkippedRow: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var row: Int?
    /// "missing image", "unknown label", "malformed row", "unreadable image", or
    /// "left out" for a label the knowledge maps to no diagnosis on purpose.
    public var reason: String
    public var message: String

    public init(file: String, row: Int?, reason: String, message: String) {
        self.file = file
        self.row = row
        self.reason = reason
        self.message = message
    }

    public init(_ error: IngestError) {
        self.init(file: error.location.file, row: error.location.row, reason: error.kind.name, message: error.message)
    }

    public var description: String {
        "\(file)\(row.map { " row \($0)" } ?? ""): \(reason): \(message)"
    }
}
