import ContentHash
import Domain
import Foundation
import Logging
import Store

/// What seeding wrote (or found already there).
public struct KnowledgeSeedReport: Sendable, Equatable {
    /// True when every knowledge file's SHA-256 matched the stored one and nothing was written.
    public var unchanged: Bool
    public var nodes: Int
    public var leaves: Int
    public var edges: Int
    public var rules: Int
    public var labelEntries: Int
    public var labelDatasets: Int
    /// Per file: version and SHA-256 of its canonical JSON.
    public var files: [KnowledgeFileDigest]
}

public struct KnowledgeFileDigest: Sendable, Equatable {
    public var file: String
    public var version: Int
    public var sha256: String
}

/// Storing the knowledge failed for a reason the operator can act on.
public struct CatalogueError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Writes the validated knowledge (taxonomy, DDx graph, rules, label maps) into the
/// knowledge tables in one transaction. Idempotent: when the stored file digests equal
/// those of the knowledge given, nothing is written.
public struct KnowledgeSeeder: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Validates the decoded files (every problem is reported before anything is written),
    /// then seeds them.
    public func seed(files: KnowledgeBase.Files, on connection: PostgresConnection) async throws -> KnowledgeSeedReport {
        let knowledge = try KnowledgeBase(taxonomy: files.taxonomy, ddx: files.ddx, rules: files.rules, labelMaps: files.labelMaps)
        return try await seed(knowledge, on: connection)
    }

    public func seed(_ knowledge: KnowledgeBase, on connection: PostgresConnection) async throws -> KnowledgeSeedReport {
        let digests = try Self.digests(of: knowledge.files)
        var report = Self.counts(knowledge, digests: digests)
        try await connection.transaction { tx in
            // One seeder at a time: a concurrent second run waits, then sees the digests.
            try await tx.execute("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
            let stored = try await tx.query("SELECT file, sha256 FROM knowledge_files")
            var storedDigests: [String: String] = [:]
            for row in stored { storedDigests[try row.decode("file")] = try row.decode("sha256") }
            if digests.allSatisfy({ storedDigests[$0.file] == $0.sha256 }) && storedDigests.count == digests.count {
                report.unchanged = true
                return
            }
            try await write(knowledge, digests: digests, on: tx)
        }
        logger.info("knowledge seeded", metadata: [
            "nodes": "\(report.nodes)", "edges": "\(report.edges)", "rules": "\(report.rules)",
            "unchanged": "\(report.unchanged)",
        ])
        return report
    }

    static let lockKey: Int64 = 0x736B_6E72_3173_6564 // "sknr1sed"

    /// SHA-256 of each file's canonical JSON (sorted keys), so equal knowledge gives equal
    /// digests however it was read.
    public static func digests(of files: KnowledgeBase.Files) throws -> [KnowledgeFileDigest] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func digest(_ name: String, _ version: Int, _ value: some Encodable) throws -> KnowledgeFileDigest {
            KnowledgeFileDigest(file: name, version: version, sha256: SHA256.hexDigest(Array(try encoder.encode(value))))
        }
        return [
            try digest(KnowledgeValidator.taxonomyFileName, files.taxonomy.version, files.taxonomy),
            try digest(KnowledgeValidator.ddxFileName, files.ddx.version, files.ddx),
            try digest(KnowledgeValidator.rulesFileName, files.rules.version, files.rules),
            try digest(KnowledgeValidator.labelMapsFileName, files.labelMaps.version, files.labelMaps),
        ]
    }

    static func counts(_ knowledge: KnowledgeBase, digests: [KnowledgeFileDigest]) -> KnowledgeSeedReport {
        KnowledgeSeedReport(
            unchanged: false,
            nodes: knowledge.taxonomy.count,
            leaves: knowledge.taxonomy.leaves.count,
            edges: Set(knowledge.graph.edges.map(\.unorderedKey)).count,
            rules: knowledge.rules.count,
            labelEntries: labelRows(knowledge).count,
            labelDatasets: knowledge.labelMaps.count,
            files: digests)
    }

    /// One row per (dataset, level, code); a repeated code keeps its first entry.
    static func labelRows(_ knowledge: KnowledgeBase) -> [(dataset: String, level: String, entry: LabelMapEntry)] {
        var seen = Set<String>()
        var rows: [(String, String, LabelMapEntry)] = []
        for map in knowledge.labelMaps {
            for level in map.levels {
                for entry in level.entries where seen.insert("\(map.dataset)\u{1F}\(level.name)\u{1F}\(entry.code)").inserted {
                    rows.append((map.dataset, level.name, entry))
                }
            }
        }
        return rows
    }

    private func write(_ knowledge: KnowledgeBase, digests: [KnowledgeFileDigest], on tx: PostgresTransaction) async throws {
        let taxonomy = knowledge.taxonomy
        // Derived rows are replaced wholesale; nodes are upserted, since cases refer to them.
        try await tx.execute("DELETE FROM dataset_label_maps")
        try await tx.execute("DELETE FROM diagnostic_rules")
        try await tx.execute("DELETE FROM ddx_edges")

        try await tx.execute("""
            CREATE TEMP TABLE seed_nodes (LIKE taxonomy_nodes INCLUDING DEFAULTS) ON COMMIT DROP
            """)
        try await tx.copy(into: "seed_nodes", columns: ["id", "name", "parent_id", "depth", "condition", "aliases", "is_leaf"],
                          rows: taxonomy.nodes.map { node -> [SQLValue?] in
                              [.text(node.id), .text(node.name), node.parent.map(SQLValue.text),
                               .int32(Int32(taxonomy.depth(of: node.id) ?? 0)),
                               node.parent == nil ? nil : taxonomy.condition(of: node.id).map { .text($0.rawValue) },
                               .textArray(node.aliases), .bool(taxonomy.isLeaf(node.id))]
                          })
        try await tx.execute("""
            INSERT INTO taxonomy_nodes (id, name, parent_id, depth, condition, aliases, is_leaf)
            SELECT id, name, parent_id, depth, condition, aliases, is_leaf FROM seed_nodes
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, depth = EXCLUDED.depth,
                condition = EXCLUDED.condition, aliases = EXCLUDED.aliases, is_leaf = EXCLUDED.is_leaf
            WHERE (taxonomy_nodes.name, taxonomy_nodes.parent_id, taxonomy_nodes.depth, taxonomy_nodes.condition,
                   taxonomy_nodes.aliases, taxonomy_nodes.is_leaf)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.parent_id, EXCLUDED.depth, EXCLUDED.condition,
                                  EXCLUDED.aliases, EXCLUDED.is_leaf)
            """)
        // Nodes gone from the taxonomy: refused while cases still refer to them.
        let stale = try await tx.query("""
            SELECT t.id, (SELECT count(*) FROM cases c WHERE c.node_id = t.id) AS used
            FROM taxonomy_nodes t WHERE t.id NOT IN (SELECT id FROM seed_nodes) ORDER BY t.id
            """)
        let inUse = try stale.filter { try $0.decode("used", as: Int.self) > 0 }.map { try $0.decode("id", as: String.self) }
        guard inUse.isEmpty else {
            throw CatalogueError("the knowledge drops taxonomy nodes that stored cases still use: \(inUse.joined(separator: ", ")); "
                                 + "remove or relabel those cases first")
        }
        if !stale.isEmpty {
            try await tx.execute("UPDATE taxonomy_nodes SET parent_id = NULL WHERE id NOT IN (SELECT id FROM seed_nodes)")
            try await tx.execute("DELETE FROM taxonomy_nodes WHERE id NOT IN (SELECT id FROM seed_nodes)")
        }

        var edges: [String: DDxEdge] = [:]
        for edge in knowledge.graph.edges where edges[edge.unorderedKey] == nil { edges[edge.unorderedKey] = edge }
        try await tx.copy(into: "ddx_edges", columns: ["a", "b", "note"], rows: edges.keys.sorted().map { key -> [SQLValue?] in
            let edge = edges[key]!
            let (a, b) = edge.a < edge.b ? (edge.a, edge.b) : (edge.b, edge.a)
            return [.text(a), .text(b), .text(edge.note)]
        })
        let hallmarkEncoder = SQLValue.defaultJSONEncoder
        try await tx.copy(into: "diagnostic_rules", columns: ["node_id", "rule", "clinical_clue", "hallmarks"],
                          rows: try knowledge.rules.keys.sorted().map { id -> [SQLValue?] in
                              let rule = knowledge.rules[id]!
                              return [.text(id), .text(rule.text), rule.clinicalClue.map(SQLValue.text),
                                      try SQLValue.json(rule.hallmarks, encoder: hallmarkEncoder)]
                          })
        try await tx.copy(into: "dataset_label_maps", columns: ["dataset", "level", "code", "node_id", "condition", "note"],
                          rows: Self.labelRows(knowledge).map { row -> [SQLValue?] in
                              [.text(row.dataset), .text(row.level), .text(row.entry.code), row.entry.node.map(SQLValue.text),
                               row.entry.condition.map { .text($0.rawValue) }, row.entry.note.map(SQLValue.text)]
                          })
        for digest in digests {
            try await tx.execute("""
                INSERT INTO knowledge_files (file, version, sha256, loaded_at) VALUES (\(digest.file), \(digest.version), \(digest.sha256), now())
                ON CONFLICT (file) DO UPDATE SET version = EXCLUDED.version, sha256 = EXCLUDED.sha256, loaded_at = EXCLUDED.loaded_at
                """)
        }
    }
}
