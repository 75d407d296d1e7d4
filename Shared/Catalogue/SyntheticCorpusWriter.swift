import ContentHash
import DataSynth
import Dispatch
import Domain
import Foundation
import Logging
import Store

/// What `SyntheticCorpusWriter.write` did.
public struct CorpusWriteReport: Sendable, Equatable {
    /// True when the stored corpus already was this plan (same fingerprint); nothing was
    /// rendered or written.
    public var unchanged: Bool
    /// Cases of the synthetic datasets deleted before writing (a different seed or scale).
    public var replacedCases: Int
    public var writtenCases: Int
    /// New blobs (images already stored are skipped).
    public var newBlobs: Int
    public var renderSeconds: Double
    public var writeSeconds: Double
    public var fingerprint: String
}

/// Renders a planned synthetic corpus and writes it into the catalogue.
///
/// Dataset ids do not depend on the seed. A run with the plan already stored (same seed,
/// scale and knowledge: same fingerprint) changes nothing. Any other run replaces the cases
/// of every synthetic dataset in one transaction: the dataset rows are upserted, their old
/// cases deleted, the new images inserted into `blobs` (content-addressed, existing ones
/// skipped) and the new cases copied in.
public struct SyntheticCorpusWriter: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public static func fingerprint(of plan: CorpusPlan) -> String {
        SHA256.hexDigest(Array(plan.fingerprintText.utf8))
    }

    /// The fingerprint stored for the synthetic datasets when all of them carry the same one
    /// and hold the number of cases it promises; nil otherwise.
    public func storedFingerprint(on db: some PostgresQueryable, plan: CorpusPlan) async throws -> String? {
        let ids = plan.datasets.map(\.spec.id)
        let rows = try await db.query("""
            SELECT d.id, d.metadata->>'fingerprint' AS fingerprint,
                   (SELECT count(*) FROM cases c WHERE c.dataset_id = d.id) AS cases
            FROM datasets d WHERE d.id = ANY(\(ids))
            """)
        guard rows.count == ids.count else { return nil }
        var fingerprints = Set<String?>()
        for row in rows {
            let id: String = try row.decode("id")
            let count: Int = try row.decode("cases")
            guard plan.dataset(id)?.cases.count == count else { return nil }
            fingerprints.insert(try row.decode("fingerprint", as: String?.self))
        }
        return fingerprints.count == 1 ? fingerprints.first! : nil
    }

    public func write(_ plan: CorpusPlan, on connection: PostgresConnection) async throws -> CorpusWriteReport {
        let fingerprint = Self.fingerprint(of: plan)
        if try await storedFingerprint(on: connection, plan: plan) == fingerprint {
            return CorpusWriteReport(unchanged: true, replacedCases: 0, writtenCases: 0, newBlobs: 0,
                                     renderSeconds: 0, writeSeconds: 0, fingerprint: fingerprint)
        }
        try await checkKnowledgeSeeded(plan, on: connection)

        let cases = plan.allCases
        let renderStart = DispatchTime.now()
        let images = try await Self.renderOffPool(cases, side: plan.scale.imageSide, quality: plan.scale.jpegQuality)
        let renderSeconds = Self.seconds(since: renderStart)

        let writeStart = DispatchTime.now()
        let (replaced, newBlobs) = try await connection.transaction { tx -> (Int, Int) in
            try await tx.execute("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
            // Another writer may have stored this very plan while we rendered.
            if try await storedFingerprint(on: tx, plan: plan) == fingerprint { return (-1, 0) }
            let ids = plan.datasets.map(\.spec.id)
            for dataset in plan.datasets { try await upsert(dataset, plan: plan, fingerprint: fingerprint, on: tx) }
            // What was built from the old cases goes with them: evaluation items, and the
            // trajectories and prompts of earlier runs (their results and metrics stay).
            for table in ["eval_items", "trajectories", "rl_prompts"] {
                try await tx.execute("""
                    DELETE FROM \(identifier: table) WHERE case_id IN (SELECT id FROM cases WHERE dataset_id = ANY(\(ids)))
                    """)
            }
            let replaced = try await tx.execute("DELETE FROM cases WHERE dataset_id = ANY(\(ids))")
            let newBlobs = try await insertBlobs(images, on: tx)
            try await tx.copy(into: "cases", columns: Self.caseColumns, rows: zip(cases, images).map { item, image in
                Self.caseRow(item, sha256: image.sha256)
            })
            return (replaced, newBlobs)
        }
        if replaced < 0 {
            return CorpusWriteReport(unchanged: true, replacedCases: 0, writtenCases: 0, newBlobs: 0,
                                     renderSeconds: renderSeconds, writeSeconds: Self.seconds(since: writeStart),
                                     fingerprint: fingerprint)
        }
        let report = CorpusWriteReport(unchanged: false, replacedCases: replaced, writtenCases: cases.count, newBlobs: newBlobs,
                                       renderSeconds: renderSeconds, writeSeconds: Self.seconds(since: writeStart),
                                       fingerprint: fingerprint)
        logger.info("synthetic corpus written", metadata: [
            "cases": "\(report.writtenCases)", "replaced": "\(report.replacedCases)", "blobs.new": "\(report.newBlobs)",
            "seed": "\(plan.seed)", "scale": "\(plan.scale.rawValue)",
        ])
        return report
    }

    static let lockKey: Int64 = 0x736B_6E72_3173_796E // "sknr1syn"

    static let caseColumns = ["id", "dataset_id", "image_sha256", "label_code", "label_level", "node_id", "condition",
                              "split", "group_key", "rationale", "source_row", "metadata"]

    static func caseRow(_ item: SyntheticCase, sha256: String) -> [SQLValue?] {
        var metadata: [String: String] = ["drawn_diagnosis": item.drawnDiagnosis, "style": item.style.storedName]
        if let borrowed = item.borrowedFeature { metadata["borrowed_feature"] = borrowed }
        for (level, code) in item.otherLevels { metadata["label." + level] = code }
        let json = (try? SQLValue.json(metadata)) ?? .jsonb("{}")
        return [.text(item.id), .text(item.datasetID), .text(sha256), .text(item.labelCode), item.labelLevel.map(SQLValue.text),
                item.node.map(SQLValue.text), .text(item.condition.rawValue), .text(item.split.rawValue),
                item.groupKey.map(SQLValue.text), item.rationale.map(SQLValue.text), nil, json]
    }

    private func upsert(_ dataset: SyntheticDatasetPlan, plan: CorpusPlan, fingerprint: String, on tx: PostgresTransaction) async throws {
        let spec = dataset.spec
        let metadata = try SQLValue.json(CorpusDatasetMetadata(
            seed: String(plan.seed), scale: plan.scale.rawValue, imageSide: plan.scale.imageSide,
            fingerprint: fingerprint, labelLevel: spec.labelLevel, domainShift: Double(spec.domainShift)))
        try await tx.execute("""
            INSERT INTO datasets (id, name, role, source, image_style, label_granularity, description, label_map, metadata)
            VALUES (\(spec.id), \(spec.name), \(spec.role.rawValue), 'synthetic', \(spec.imageStyleName), \(spec.granularity),
                    \(spec.description), \(spec.labelMap), \(metadata))
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, source = EXCLUDED.source,
                image_style = EXCLUDED.image_style, label_granularity = EXCLUDED.label_granularity,
                description = EXCLUDED.description, label_map = EXCLUDED.label_map, metadata = EXCLUDED.metadata
            """)
    }

    /// Inserts the images not yet stored; returns how many were new.
    private func insertBlobs(_ images: [RenderedImage], on tx: PostgresTransaction) async throws -> Int {
        try await tx.execute("CREATE TEMP TABLE synth_blobs (sha256 text, data bytea) ON COMMIT DROP")
        var seen = Set<String>()
        let unique = images.filter { seen.insert($0.sha256).inserted }
        try await tx.copy(into: "synth_blobs", columns: ["sha256", "data"],
                          rows: unique.lazy.map { [.text($0.sha256), .bytea($0.jpeg)] as [SQLValue?] })
        return try await tx.execute("""
            INSERT INTO blobs (sha256, media_type, size, data)
            SELECT sha256, 'image/jpeg', octet_length(data), data FROM synth_blobs
            ON CONFLICT (sha256) DO NOTHING
            """)
    }

    private func checkKnowledgeSeeded(_ plan: CorpusPlan, on db: some PostgresQueryable) async throws {
        var nodes = Set<String>()
        for item in plan.allCases { if let node = item.node { nodes.insert(node) } }
        let wanted = nodes.sorted()
        let rows = try await db.query("SELECT id FROM taxonomy_nodes WHERE id = ANY(\(wanted))")
        let present = Set(try rows.map { try $0.decode("id", as: String.self) })
        let missing = wanted.filter { !present.contains($0) }
        guard missing.isEmpty else {
            throw CatalogueError("the store lacks \(missing.count) taxonomy node(s) the corpus labels with "
                                 + "(\(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", ..." : "")); "
                                 + "seed the knowledge first (skinr1 seed)")
        }
    }

    /// Renders on a Dispatch queue, so the CPU work never occupies Swift's cooperative threads.
    static func renderOffPool(_ cases: [SyntheticCase], side: Int, quality: Int) async throws -> [RenderedImage] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                do {
                    continuation.resume(returning: try CorpusRendering.renderAll(cases, side: side, quality: quality))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }
}

/// What a synthetic dataset row records in `datasets.metadata`.
public struct CorpusDatasetMetadata: Codable, Sendable, Equatable {
    /// The seed as decimal text (JSON numbers lose precision beyond 2^53).
    public var seed: String
    public var scale: String
    public var imageSide: Int
    public var fingerprint: String
    public var labelLevel: String?
    public var domainShift: Double

    enum CodingKeys: String, CodingKey {
        case seed, scale, fingerprint
        case imageSide = "image_side"
        case labelLevel = "label_level"
        case domainShift = "domain_shift"
    }
}
