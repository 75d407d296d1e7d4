import Foundation

/// The clinical knowledge in memory: taxonomy T, DDx graph G, diagnostic rules and the
/// dataset label maps, validated against each other.
public struct KnowledgeBase: Sendable {
    public let taxonomy: Taxonomy
    public let graph: DDxGraph
    public let rules: [NodeID: DiagnosticRule]
    public let labelMaps: [DatasetLabelMap]
    /// The `version` field of each file, keyed by file name.
    public let versions: [String: Int]
    /// The decoded files, kept so that a seeder can store exactly what was validated.
    public let files: Files

    public struct Files: Sendable, Equatable {
        public var taxonomy: TaxonomyFile
        public var ddx: DDxGraphFile
        public var rules: DiagnosticRulesFile
        public var labelMaps: LabelMapsFile
    }

    /// Validates the decoded files with `KnowledgeValidator` and builds the knowledge base.
    public init(taxonomy: TaxonomyFile, ddx: DDxGraphFile, rules: DiagnosticRulesFile,
                labelMaps: LabelMapsFile) throws(KnowledgeValidationError) {
        let issues = KnowledgeValidator.validate(taxonomy: taxonomy, ddx: ddx, rules: rules, labelMaps: labelMaps)
        guard issues.isEmpty else { throw KnowledgeValidationError(issues: issues) }
        self.taxonomy = try Taxonomy(nodes: taxonomy.nodes)
        self.graph = DDxGraph(edges: ddx.edges)
        self.rules = Dictionary(rules.rules.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        self.labelMaps = labelMaps.datasets
        self.versions = [
            KnowledgeValidator.taxonomyFileName: taxonomy.version,
            KnowledgeValidator.ddxFileName: ddx.version,
            KnowledgeValidator.rulesFileName: rules.version,
            KnowledgeValidator.labelMapsFileName: labelMaps.version,
        ]
        self.files = Files(taxonomy: taxonomy, ddx: ddx, rules: rules, labelMaps: labelMaps)
    }

    /// Decodes the four JSON documents and validates them. A decoding error names the file.
    public static func decode(taxonomy: Data, ddx: Data, rules: Data, labelMaps: Data) throws -> KnowledgeBase {
        try KnowledgeBase(
            taxonomy: decodeFile(TaxonomyFile.self, from: taxonomy, file: KnowledgeValidator.taxonomyFileName),
            ddx: decodeFile(DDxGraphFile.self, from: ddx, file: KnowledgeValidator.ddxFileName),
            rules: decodeFile(DiagnosticRulesFile.self, from: rules, file: KnowledgeValidator.rulesFileName),
            labelMaps: decodeFile(LabelMapsFile.self, from: labelMaps, file: KnowledgeValidator.labelMapsFileName))
    }

    static func decodeFile<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw KnowledgeDecodingError(file: file, reason: KnowledgeDecodingError.describe(error))
        }
    }

    public func rule(for id: NodeID) -> DiagnosticRule? { rules[id] }

    public func labelMap(for dataset: String) -> DatasetLabelMap? {
        labelMaps.first { $0.dataset == dataset }
            ?? labelMaps.first { TextNormalizer.key($0.dataset) == TextNormalizer.key(dataset) }
    }
}

/// A knowledge file that is not the JSON it should be.
public struct KnowledgeDecodingError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): cannot be decoded: \(reason)" }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "top level" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) (at \(at(context.codingPath)))"
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' (at \(at(context.codingPath)))"
        @unknown default:
            return String(describing: error)
        }
    }
}
