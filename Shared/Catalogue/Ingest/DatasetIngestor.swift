import DataSynth
import ContentHash
import Dispatch
import Domain
import Foundation
import Logging
import Store

/// How an import treats bad rows and draws its splits.
public struct IngestOptions: Sendable {
    /// Import the good rows and report the bad ones, instead of aborting.
    public var skipBad: Bool
    /// Seed of the 6:2:2 split draw (and of the validation part carved out of official train splits).
    public var seed: UInt64

    public init(skipBad: Bool = false, seed: UInt64 = 0) {
        self.skipBad = skipBad
        self.seed = seed
    }
}

/// One case as it will be written.
public struct IngestCase: Sendable, Equatable {
    public var id: String
    public var datasetID: String
    public var imagePath: String
    public var sha256: String
    public var mediaType: String
    public var size: Int
    public var labelCode: String
    public var labelLevel: String
    public var node: NodeID?
    public var condition: LesionCondition
    public var split: CorpusSplit
    public var groupKey: String?
    public var sourceRow: String
    public var metadata: [String: JSONValue]
}

/// Everything an import will write, worked out before the store is touched.
public struct IngestPlan: Sendable {
    public var format: IngestFormat
    public var datasets: [IngestDataset]
    public var cases: [IngestCase]
    /// Rows left out, by dataset id: bad rows (with `--skip-bad`) and labels the
    /// knowledge maps to no diagnosis.
    public var skipped: [String: [SkippedRow]]
}

/// What an import did to one dataset.
public struct DatasetImportReport: Sendable, Equatable {
    public var datasetID: String
    public var importID: Int64
    /// Cases of the dataset this import accepted (inserted, updated or already there).
    public var imported: Int
    public var inserted: Int
    public var updated: Int
    public var newBlobs: Int
    public var splits: [CorpusSplit: Int]
    public var skipped: [SkippedRow]

    public var unchanged: Int { imported - inserted - updated }
}

public struct IngestReport: Sendable {
    public var format: IngestFormat
    public var root: String
    public var datasets: [DatasetImportReport]
    /// Seconds spent reading, checking and hashing (before the store), and writing.
    public var planSeconds: Double
    public var writeSeconds: Double
}

/// An import that found bad rows without `--skip-bad`: nothing was written.
public struct IngestAborted: Error, Sendable, CustomStringConvertible {
    public var errors: [IngestError]

    public var description: String {
        let first = errors.first.map(\.description) ?? "no rows"
        let more = errors.count > 1 ? " (and \(errors.count - 1) more bad rows)" : ""
        return "import aborted, the store is unchanged: \(first)\(more); --skip-bad imports the other rows"
    }
}

/// Reads a dataset tree as distributed and writes its datasets, blobs and cases into the
/// catalogue in one transaction (`skinr1 data ingest`).
public struct DatasetIngestor: Sendable {
    public let knowledge: KnowledgeBase
    public let logger: Logger

    public init(knowledge: KnowledgeBase, logger: Logger) {
        self.knowledge = knowledge
        self.logger = logger
    }

    /// Parses, maps labels, reads and verifies every image, and draws the splits. Reads
    /// files but writes nothing. Throws the layout error, or `IngestAborted` listing every
    /// bad row unless `options.skipBad`.
    public func plan(_ format: IngestFormat, tree: some IngestFileTree, options: IngestOptions) throws -> IngestPlan {
        let parsed = try IngestParser.parse(format, tree: tree)
        var bad = parsed.problems
        var skipped: [String: [SkippedRow]] = [:]
        let resolver = LabelResolver(knowledge: knowledge)

        // Labels first (cheap, in order), then the images, read and checked in parallel.
        var labelled: [(row: IngestRow, node: NodeID?, condition: LesionCondition, level: String)] = []
        var firstSeen: [String: SourceLocation] = [:]
        for row in parsed.rows {
            let key = row.dataset + "\u{0}" + row.imageID
            if let earlier = firstSeen[key] {
                bad.append(RowProblem(dataset: row.dataset, error: IngestError(
                    .malformedRow, at: row.source, "image \(row.imageID) is listed again (first at \(earlier))")))
                continue
            }
            firstSeen[key] = row.source
            do {
                switch try resolver.resolve(row) {
                case .labelled(let node, let condition, let level):
                    labelled.append((row, node, condition, level))
                case .leftOut(let note):
                    skipped[row.dataset, default: []].append(SkippedRow(
                        file: row.source.file, row: row.source.row, reason: "left out", message: "\(row.labelCode): \(note)"))
                }
            } catch {
                bad.append(RowProblem(dataset: row.dataset, error: error))
            }
        }
        let facts = Self.checkImages(labelled.map(\.row), in: tree)
        var accepted: [AcceptedRow] = []
        for (item, fact) in zip(labelled, facts) {
            switch fact {
            case .success(let fact):
                accepted.append(AcceptedRow(row: item.row, node: item.node, condition: item.condition, level: item.level,
                                            sha256: fact.sha256, mediaType: fact.mediaType.rawValue, size: fact.size))
            case .failure(let error):
                bad.append(RowProblem(dataset: item.row.dataset, error: error))
            }
        }
        if !bad.isEmpty && !options.skipBad {
            throw IngestAborted(errors: bad.map(\.error).sorted {
                ($0.location.file, $0.location.row ?? 0) < ($1.location.file, $1.location.row ?? 0)
            })
        }
        for problem in bad { skipped[problem.dataset, default: []].append(SkippedRow(problem.error)) }
        // Report in file order, whichever stage found the problem.
        for dataset in skipped.keys {
            skipped[dataset]!.sort { ($0.file, $0.row ?? 0) < ($1.file, $1.row ?? 0) }
        }

        // Splits per dataset: out-of-distribution sets are test data only.
        let datasets = IngestDataset.forFormat(format)
        var splits = [CorpusSplit](repeating: .test, count: accepted.count)
        for dataset in datasets where dataset.role != .ood {
            let indices = accepted.indices.filter { accepted[$0].row.dataset == dataset.id }
            let candidates = indices.map { i in
                SplitCandidate(group: accepted[i].row.groupKey.map { "group:" + $0 } ?? "image:" + accepted[i].row.imageID,
                               stratum: accepted[i].node ?? accepted[i].condition.rawValue,
                               official: accepted[i].row.officialSplit)
            }
            for (i, split) in zip(indices, SplitAssigner.assign(candidates, seed: options.seed)) { splits[i] = split }
        }

        let cases = accepted.enumerated().map { i, item in
            IngestCase(id: item.row.dataset + ":" + item.row.imageID, datasetID: item.row.dataset,
                        imagePath: item.row.imagePath, sha256: item.sha256, mediaType: item.mediaType, size: item.size,
                        labelCode: item.row.labelCode, labelLevel: item.level, node: item.node, condition: item.condition,
                        split: splits[i], groupKey: item.row.groupKey, sourceRow: item.row.source.description,
                        metadata: item.row.metadata.merging(["labels": .object(item.row.labels.mapValues(JSONValue.string)),
                                                             "image_path": .string(item.row.imagePath)]) { _, new in new })
        }
        // Only datasets the tree holds: an OmniMedVQA copy may lack some subsets.
        let present = Set(cases.map(\.datasetID)).union(skipped.keys)
        return IngestPlan(format: format, datasets: datasets.filter { present.contains($0.id) }, cases: cases, skipped: skipped)
    }

    struct ImageFacts: Sendable {
        var sha256: String
        var mediaType: ImageCheck.MediaType
        var size: Int
    }

    /// Reads, verifies and hashes each row's image, on every core; results in row order.
    static func checkImages(_ rows: [IngestRow], in tree: some IngestFileTree) -> [Result<ImageFacts, IngestError>] {
        let results = ResultSlots<Result<ImageFacts, IngestError>>(count: rows.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, rows.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: rows.count, by: workers) {
                let row = rows[index]
                results.set(index, Result { () throws(IngestError) -> ImageFacts in
                    let bytes: [UInt8]
                    do { bytes = try tree.contents(of: row.imagePath) } catch {
                        throw IngestError(.missingImage, at: row.source, "image \(row.imagePath) cannot be read: \(error)")
                    }
                    let mediaType: ImageCheck.MediaType
                    do throws(ImageCheckError) { mediaType = try ImageCheck.verify(bytes) } catch {
                        throw IngestError(.unreadableImage, at: row.source, "image \(row.imagePath): \(error.message)")
                    }
                    return ImageFacts(sha256: SHA256.hexDigest(bytes), mediaType: mediaType, size: bytes.count)
                })
            }
        }
        return results.values()
    }

    /// Plans the import (off the cooperative pool: it reads and decodes every image) and
    /// writes it in one transaction. Re-importing the same tree with the same seed changes
    /// no dataset, blob or case; each run adds one `imports` row per dataset.
    public func run(_ format: IngestFormat, tree: some IngestFileTree, root: String, options: IngestOptions,
                    on connection: PostgresConnection) async throws -> IngestReport {
        let started = Date()
        let plan = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<IngestPlan, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.plan(format, tree: tree, options: options) })
            }
        }
        for (dataset, rows) in plan.skipped.sorted(by: { $0.key < $1.key }) {
            logger.info("rows left out", metadata: ["ingest.dataset": "\(dataset)", "ingest.skipped": "\(rows.count)"])
        }
        let planned = Date()
        let reports = try await connection.transaction { transaction in
            try await write(plan, tree: tree, root: root, started: started, on: transaction)
        }
        return IngestReport(format: format, root: root, datasets: reports,
                            planSeconds: planned.timeIntervalSince(started), writeSeconds: Date().timeIntervalSince(planned))
    }

    private func write(_ plan: IngestPlan, tree: some IngestFileTree, root: String, started: Date,
                       on transaction: PostgresTransaction) async throws -> [DatasetImportReport] {
        try await checkTaxonomy(plan, on: transaction)
        var existingBlobs = Set<String>()
        for chunk in chunks(Array(Set(plan.cases.map(\.sha256))).sorted()) {
            for row in try await transaction.query("SELECT sha256 FROM blobs WHERE sha256 = ANY(\(chunk))") {
                existingBlobs.insert(try row.decode("sha256", as: String.self))
            }
        }
        var existingCases = Set<String>()
        for chunk in chunks(plan.cases.map(\.id)) {
            for row in try await transaction.query("SELECT id FROM cases WHERE id = ANY(\(chunk))") {
                existingCases.insert(try row.decode("id", as: String.self))
            }
        }

        var reports: [DatasetImportReport] = []
        for dataset in plan.datasets {
            try await transaction.execute("""
                INSERT INTO datasets (id, name, role, source, image_style, label_granularity, description, label_map)
                VALUES (\(dataset.id), \(dataset.name), \(dataset.role.rawValue), \(dataset.source), \(dataset.imageStyle),
                        \(dataset.labelGranularity), \(dataset.description), \(dataset.labelMap))
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, source = EXCLUDED.source,
                    image_style = EXCLUDED.image_style, label_granularity = EXCLUDED.label_granularity,
                    description = EXCLUDED.description, label_map = EXCLUDED.label_map
                WHERE (datasets.name, datasets.role, datasets.source, datasets.image_style, datasets.label_granularity,
                       datasets.description, datasets.label_map)
                      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.role, EXCLUDED.source, EXCLUDED.image_style,
                       EXCLUDED.label_granularity, EXCLUDED.description, EXCLUDED.label_map)
                """)
            var report = DatasetImportReport(datasetID: dataset.id, importID: 0, imported: 0, inserted: 0, updated: 0,
                                             newBlobs: 0, splits: [:], skipped: plan.skipped[dataset.id] ?? [])
            for item in plan.cases where item.datasetID == dataset.id {
                if !existingBlobs.contains(item.sha256) {
                    let bytes = try tree.contents(of: item.imagePath)
                    // The server checks the hash (the file could have changed since it was planned).
                    let stored = try await transaction.execute("""
                        INSERT INTO blobs (sha256, media_type, size, data)
                        SELECT v.sha256, v.media_type, v.size, v.data
                        FROM (SELECT \(item.sha256)::text AS sha256, \(item.mediaType)::text AS media_type,
                                     \(Int64(bytes.count))::bigint AS size, \(bytes)::bytea AS data) AS v
                        WHERE encode(sha256(v.data), 'hex') = v.sha256
                        ON CONFLICT (sha256) DO NOTHING
                        """)
                    if stored == 0 {
                        let present = try await transaction.query("SELECT 1 AS one FROM blobs WHERE sha256 = \(item.sha256)")
                        guard !present.isEmpty else {
                            throw IngestError(.unreadableImage, file: item.sourceRow, row: nil,
                                              "image \(item.imagePath) changed while it was being imported")
                        }
                    }
                    existingBlobs.insert(item.sha256)
                    report.newBlobs += 1
                }
                let changed = try await transaction.execute("""
                    INSERT INTO cases (id, dataset_id, image_sha256, label_code, label_level, node_id, condition, split,
                                       group_key, source_row, metadata)
                    VALUES (\(item.id), \(item.datasetID), \(item.sha256), \(item.labelCode), \(item.labelLevel), \(item.node),
                            \(item.condition.rawValue), \(item.split.rawValue), \(item.groupKey), \(item.sourceRow),
                            \(json: item.metadata))
                    ON CONFLICT (id) DO UPDATE SET dataset_id = EXCLUDED.dataset_id, image_sha256 = EXCLUDED.image_sha256,
                        label_code = EXCLUDED.label_code, label_level = EXCLUDED.label_level, node_id = EXCLUDED.node_id,
                        condition = EXCLUDED.condition, split = EXCLUDED.split, group_key = EXCLUDED.group_key,
                        source_row = EXCLUDED.source_row, metadata = EXCLUDED.metadata
                    WHERE (cases.dataset_id, cases.image_sha256, cases.label_code, cases.label_level, cases.node_id,
                           cases.condition, cases.split, cases.group_key, cases.source_row, cases.metadata)
                          IS DISTINCT FROM (EXCLUDED.dataset_id, EXCLUDED.image_sha256, EXCLUDED.label_code,
                           EXCLUDED.label_level, EXCLUDED.node_id, EXCLUDED.condition, EXCLUDED.split,
                           EXCLUDED.group_key, EXCLUDED.source_row, EXCLUDED.metadata)
                    """)
                report.imported += 1
                report.splits[item.split, default: 0] += 1
                if changed > 0 {
                    if existingCases.contains(item.id) { report.updated += 1 } else { report.inserted += 1 }
                }
            }
            let skipped = ImportSkipped(rows: report.skipped)
            let rows = try await transaction.query("""
                INSERT INTO imports (dataset_id, format, root, started_at, finished_at, imported, skipped)
                VALUES (\(dataset.id), \(plan.format.rawValue), \(root), \(started), now(), \(report.imported), \(json: skipped))
                RETURNING id
                """)
            report.importID = try rows[0].decode("id", as: Int64.self)
            logger.info("dataset imported", metadata: [
                "ingest.dataset": "\(dataset.id)", "ingest.imported": "\(report.imported)",
                "ingest.inserted": "\(report.inserted)", "ingest.updated": "\(report.updated)",
                "ingest.skipped": "\(report.skipped.count)",
            ])
            reports.append(report)
        }
        return reports
    }

    /// Cases point at taxonomy nodes: the knowledge must be seeded, with every node used.
    private func checkTaxonomy(_ plan: IngestPlan, on transaction: PostgresTransaction) async throws {
        let nodes = Array(Set(plan.cases.compactMap(\.node))).sorted()
        guard !nodes.isEmpty else { return }
        let rows = try await transaction.query("SELECT id FROM taxonomy_nodes WHERE id = ANY(\(nodes))")
        let present = Set(try rows.map { try $0.decode("id", as: String.self) })
        let missing = nodes.filter { !present.contains($0) }
        guard missing.isEmpty else {
            throw IngestError(.notSeeded, file: "store", row: nil,
                              "the store lacks taxonomy nodes \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? ", ..." : ""); run `skinr1 seed` first")
        }
    }

    private func chunks(_ items: [String], size: Int = 1000) -> [[String]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }
}

/// The `imports.skipped` document: a count per reason and every row.
struct ImportSkipped: Encodable {
    var total: Int
    var byReason: [String: Int]
    var rows: [SkippedRow]

    init(rows: [SkippedRow]) {
        self.total = rows.count
        self.byReason = Dictionary(rows.map { ($0.reason, 1) }, uniquingKeysWith: +)
        self.rows = rows
    }

    enum CodingKeys: String, CodingKey {
        case total
        case byReason = "by_reason"
        case rows
    }
}

/// A row whose label mapped and whose image checked out.
private struct AcceptedRow {
    var row: IngestRow
    var node: NodeID?
    var condition: LesionCondition
    var level: String
    var sha256: String
    var mediaType: String
    var size: Int
}

/// Fixed slots filled from several threads, one writer per slot.
private final class ResultSlots<Value: Sendable>: @unchecked Sendable {
    // Safe to share: each index is written by exactly one worker, under the lock, and read
    // only after `concurrentPerform` has returned.
    private var slots: [Value?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    func values() -> [Value] { slots.map { $0! } }
}
