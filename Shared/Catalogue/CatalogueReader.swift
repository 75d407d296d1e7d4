import DataSynth
import Domain
import Foundation
import Store

/// A dataset row of the catalogue.
public struct StoredDataset: Sendable, Equatable {
    public var id: String
    public var name: String
    /// "textbook", "train" or "ood".
    public var role: String
    /// "synthetic" or the name of an import format.
    public var source: String
    public var imageStyle: String
    public var labelGranularity: String
    public var description: String
    public var labelMap: String?
}

/// A case row of the catalogue.
public struct StoredCase: Sendable, Equatable {
    public var id: String
    public var datasetID: String
    public var imageSHA256: String
    public var labelCode: String
    public var labelLevel: String?
    /// The taxonomy node of the label; nil when the label only states a condition.
    public var node: NodeID?
    public var condition: LesionCondition
    public var split: CorpusSplit
    public var groupKey: String?
    /// Textbook exemplars: the rule grounded in the features of the image.
    public var rationale: String?
    public var sourceRow: String?
    /// The `metadata` column as JSON text.
    public var metadataJSON: String

    /// The exemplar (I_i, r_i, d_i) of METHOD 2.3, when the case has a diagnosis node.
    public var textbookCase: TextbookCase? {
        node.map { TextbookCase(caseID: id, imageSHA: imageSHA256, label: $0, rationale: rationale) }
    }
}

/// Case counts of one dataset and split.
public struct StoredCaseCount: Sendable, Equatable {
    public var datasetID: String
    public var role: String
    public var split: CorpusSplit
    public var cases: Int
}

/// Reads the data catalogue: what the trajectory synthesizer, the rollout generator, the
/// learner and the evaluator ask of the store.
public struct CatalogueReader: Sendable {
    let db: any PostgresQueryable

    public init(_ db: any PostgresQueryable) {
        self.db = db
    }

    public func datasets(role: CorpusRole? = nil) async throws -> [StoredDataset] {
        let rows = try await db.query("""
            SELECT id, name, role, source, image_style, label_granularity, description, label_map FROM datasets
            WHERE \(role?.rawValue)::text IS NULL OR role = \(role?.rawValue)::text ORDER BY id
            """)
        return try rows.map { row in
            StoredDataset(id: try row.decode("id"), name: try row.decode("name"), role: try row.decode("role"),
                          source: try row.decode("source"), imageStyle: try row.decode("image_style"),
                          labelGranularity: try row.decode("label_granularity"),
                          description: try row.decode("description"), labelMap: try row.decode("label_map", as: String?.self))
        }
    }

    /// Every textbook exemplar (datasets of role textbook), with its rationale and image.
    public func textbookCases() async throws -> [StoredCase] {
        try await cases(where: "d.role = 'textbook'")
    }

    /// The cases of one dataset, optionally of one split, in id order.
    public func cases(dataset: String, split: CorpusSplit? = nil) async throws -> [StoredCase] {
        try await cases(where: "c.dataset_id = \(dataset) AND (\(split?.rawValue)::text IS NULL OR c.split = \(split?.rawValue)::text)")
    }

    /// The cases of every training dataset in one split.
    public func trainingCases(split: CorpusSplit) async throws -> [StoredCase] {
        try await cases(where: "d.role = 'train' AND c.split = \(split.rawValue)")
    }

    /// The cases of every out-of-distribution dataset.
    public func oodCases() async throws -> [StoredCase] {
        try await cases(where: "d.role = 'ood'")
    }

    /// Cases per dataset and split.
    public func counts() async throws -> [StoredCaseCount] {
        let rows = try await db.query("""
            SELECT c.dataset_id, d.role, c.split, count(*) AS n FROM cases c JOIN datasets d ON d.id = c.dataset_id
            GROUP BY c.dataset_id, d.role, c.split ORDER BY c.dataset_id, c.split
            """)
        return try rows.map { row in
            StoredCaseCount(datasetID: try row.decode("dataset_id"), role: try row.decode("role"),
                           split: try Self.split(try row.decode("split")), cases: try row.decode("n"))
        }
    }

    /// The bytes of a stored blob.
    public func blob(sha256: String) async throws -> [UInt8] {
        guard let first = try await db.byteaColumn("SELECT data FROM blobs WHERE sha256 = \(sha256)").first, let bytes = first else {
            throw CatalogueError("no blob with sha256 \(sha256) in the store")
        }
        return bytes
    }

    /// A stored JPEG image, decoded.
    public func image(sha256: String) async throws -> RGBImage {
        let bytes = try await blob(sha256: sha256)
        do {
            return try JPEG.decode(bytes)
        } catch {
            throw CatalogueError("blob \(sha256) is not a readable JPEG: \(error)")
        }
    }

    private func cases(where condition: SQLQuery) async throws -> [StoredCase] {
        let query: SQLQuery = """
            SELECT c.id, c.dataset_id, c.image_sha256, c.label_code, c.label_level, c.node_id, c.condition, c.split,
                   c.group_key, c.rationale, c.source_row, c.metadata::text AS metadata
            FROM cases c JOIN datasets d ON d.id = c.dataset_id
            WHERE
            """ + " " + condition + " ORDER BY c.dataset_id, c.id"
        return try await db.query(query).map { row in
            let conditionText: String = try row.decode("condition")
            guard let condition = LesionCondition(rawValue: conditionText) else {
                throw CatalogueError("case \(try row.decode("id", as: String.self)): unknown condition '\(conditionText)'")
            }
            return StoredCase(
                id: try row.decode("id"), datasetID: try row.decode("dataset_id"), imageSHA256: try row.decode("image_sha256"),
                labelCode: try row.decode("label_code"), labelLevel: try row.decode("label_level"),
                node: try row.decode("node_id"), condition: condition, split: try Self.split(try row.decode("split")),
                groupKey: try row.decode("group_key"), rationale: try row.decode("rationale"),
                sourceRow: try row.decode("source_row"), metadataJSON: try row.decode("metadata"))
        }
    }

    static func split(_ text: String) throws -> CorpusSplit {
        guard let split = CorpusSplit(rawValue: text) else { throw CatalogueError("unknown split '\(text)' in the catalogue") }
        return split
    }
}
