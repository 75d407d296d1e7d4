import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Store
import Testing

@Suite("Catalogue in PostgreSQL", .catalogueCluster, .timeLimit(.minutes(5)))
struct CatalogueStoreTests {
    static let knowledge: KnowledgeBase = try! KnowledgeBase.load()
    static let logger = CatalogueCluster.logger

    @Test func seedWritesTheKnowledgeAndTwiceIsANoOp() async throws {
        try await withCatalogueDatabase { db in
            let seeder = KnowledgeSeeder(logger: Self.logger)
            let first = try await seeder.seed(Self.knowledge, on: db)
            #expect(!first.unchanged)
            #expect(try await count("taxonomy_nodes", on: db) == Self.knowledge.taxonomy.count)
            #expect(try await count("diagnostic_rules", on: db) == Self.knowledge.rules.count)
            #expect(try await count("ddx_edges", on: db) == first.edges)
            #expect(try await count("dataset_label_maps", on: db) == first.labelEntries)
            #expect(try await count("knowledge_files", on: db) == 4)
            let leaves = try await db.query("SELECT count(*) AS n FROM taxonomy_nodes WHERE is_leaf").first!.decode("n", as: Int.self)
            #expect(leaves == Self.knowledge.taxonomy.leaves.count)
            let melanoma = try #require(try await db.query("SELECT parent_id, condition FROM taxonomy_nodes WHERE id = 'melanoma'").first)
            #expect(try melanoma.decode("condition", as: String.self) == "malignant")
            #expect(try melanoma.decode("parent_id", as: String?.self) == Self.knowledge.taxonomy.parent(of: "melanoma"))

            let snapshot: SQLQuery = """
                SELECT (SELECT string_agg(file || sha256 || loaded_at::text, ',' ORDER BY file) FROM knowledge_files) ||
                       (SELECT count(*)::text FROM ddx_edges) || (SELECT xmin::text FROM taxonomy_nodes WHERE id = 'melanoma') AS s
                """
            let before: String = try await db.query(snapshot).first!.decode("s")
            let second = try await seeder.seed(Self.knowledge, on: db)
            #expect(second.unchanged)
            #expect(try await db.query(snapshot).first!.decode("s", as: String.self) == before)
        }
    }

    @Test func invalidKnowledgeAbortsBeforeWriting() async throws {
        try await withCatalogueDatabase { db in
            var files = Self.knowledge.files
            let index = try #require(files.taxonomy.nodes.firstIndex { $0.id == "melanoma" })
            files.taxonomy.nodes[index].parent = "no_such_family"
            await #expect(throws: KnowledgeValidationError.self) {
                try await KnowledgeSeeder(logger: Self.logger).seed(files: files, on: db)
            }
            do {
                _ = try await KnowledgeSeeder(logger: Self.logger).seed(files: files, on: db)
            } catch {
                #expect(String(describing: error).contains("no_such_family"))
            }
            for table in ["taxonomy_nodes", "ddx_edges", "diagnostic_rules", "dataset_label_maps", "knowledge_files"] {
                #expect(try await count(table, on: db) == 0, "\(table) was written")
            }
        }
    }

    @Test func synthNeedsTheKnowledgeSeeded() async throws {
        try await withCatalogueDatabase { db in
            let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 1, scale: .small)
            do {
                _ = try await SyntheticCorpusWriter(logger: Self.logger).write(plan, on: db)
                Issue.record("writing a corpus without knowledge succeeded")
            } catch {
                #expect(String(describing: error).contains("skinr1 seed"))
            }
            #expect(try await count("cases", on: db) == 0)
        }
    }

    @Test func synthSmallWritesACompleteCorpus() async throws {
        try await withCatalogueDatabase { db in
            _ = try await KnowledgeSeeder(logger: Self.logger).seed(Self.knowledge, on: db)
            let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 3, scale: .small)
            let report = try await SyntheticCorpusWriter(logger: Self.logger).write(plan, on: db)
            #expect(!report.unchanged)
            #expect(report.writtenCases == plan.caseCount)

            let reader = CatalogueReader(db)
            let datasets = try await reader.datasets()
            #expect(datasets.map(\.id).sorted() == SyntheticCorpusDesign.datasetIDs.sorted())
            #expect(try await reader.datasets(role: .train).count == 6)
            #expect(try await reader.datasets(role: .ood).allSatisfy { $0.imageStyle.contains("shifted") })

            // 6:2:2 over the training sets together, grouped by lesion.
            let counts = try await reader.counts().filter { $0.role == "train" }
            let total = Double(counts.reduce(0) { $0 + $1.cases })
            func share(_ split: CorpusSplit) -> Double {
                Double(counts.filter { $0.split == split }.reduce(0) { $0 + $1.cases }) / total
            }
            #expect(abs(share(.train) - 0.6) < 0.06)
            #expect(abs(share(.val) - 0.2) < 0.05)
            #expect(abs(share(.test) - 0.2) < 0.05)
            let spanning = try await db.query("""
                SELECT count(*) AS n FROM (SELECT group_key FROM cases WHERE group_key IS NOT NULL
                GROUP BY group_key HAVING count(DISTINCT split) > 1) g
                """).first!.decode("n", as: Int.self)
            #expect(spanning == 0)

            // Every image exists and decodes; textbook exemplars carry rationales.
            let textbook = try await reader.textbookCases()
            #expect(textbook.count == plan.dataset(SyntheticCorpusDesign.textbookID)?.cases.count)
            #expect(textbook.allSatisfy { ($0.rationale ?? "").hasPrefix("The image shows ") && $0.textbookCase != nil })
            let missing = try await db.query("""
                SELECT count(*) AS n FROM cases c LEFT JOIN blobs b ON b.sha256 = c.image_sha256
                WHERE b.sha256 IS NULL OR b.media_type <> 'image/jpeg'
                """).first!.decode("n", as: Int.self)
            #expect(missing == 0)
            let shas = try await db.query("SELECT DISTINCT image_sha256 FROM cases ORDER BY 1").map { try $0.decode("image_sha256", as: String.self) }
            for sha in shas {
                let image = try await reader.image(sha256: sha)
                #expect(image.width == plan.scale.imageSide && image.height == plan.scale.imageSide)
            }

            // The out-of-distribution images look different: cooler, with darker corners.
            func stats(_ cases: [StoredCase]) async throws -> (blueMinusRed: Double, corner: Double) {
                var blueMinusRed = 0.0, corner = 0.0
                for item in cases {
                    let image = try await reader.image(sha256: item.imageSHA256)
                    var sum = 0.0
                    for y in 0..<image.height { for x in 0..<image.width {
                        let p = image.pixel(x: x, y: y)
                        sum += Double(p.b) - Double(p.r)
                    } }
                    blueMinusRed += sum / Double(image.width * image.height)
                    let c = image.pixel(x: 2, y: 2)
                    corner += (Double(c.r) + Double(c.g) + Double(c.b)) / 3
                }
                return (blueMinusRed / Double(cases.count), corner / Double(cases.count))
            }
            let ood = try await reader.cases(dataset: "synth-ood-isic2019")
            let trainDermoscopy = try await reader.cases(dataset: "synth-bcn", split: .train)
            let shifted = try await stats(ood), reference = try await stats(trainDermoscopy)
            #expect(shifted.blueMinusRed > reference.blueMinusRed + 5,
                    "OOD blue-red \(shifted.blueMinusRed) vs training \(reference.blueMinusRed)")
            #expect(try await reader.oodCases().allSatisfy { $0.split == .test })
            #expect(try await reader.trainingCases(split: .val).allSatisfy { $0.split == .val })
        }
    }

    @Test func synthTwiceWithTheSameSeedIsANoOpAndAnotherSeedReplaces() async throws {
        try await withCatalogueDatabase { db in
            _ = try await KnowledgeSeeder(logger: Self.logger).seed(Self.knowledge, on: db)
            let writer = SyntheticCorpusWriter(logger: Self.logger)
            let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 11, scale: .small)
            _ = try await writer.write(plan, on: db)
            let snapshot: SQLQuery = "SELECT id, image_sha256, split, xmin::text AS x FROM cases ORDER BY id"
            let before = try await db.query(snapshot).map { try [$0.decode("id", as: String.self), $0.decode("image_sha256"), $0.decode("split"), $0.decode("x")] }
            let blobs = try await count("blobs", on: db)

            let again = try await writer.write(try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 11, scale: .small), on: db)
            #expect(again.unchanged)
            let after = try await db.query(snapshot).map { try [$0.decode("id", as: String.self), $0.decode("image_sha256"), $0.decode("split"), $0.decode("x")] }
            #expect(after == before)
            #expect(try await count("blobs", on: db) == blobs)

            // An evaluation item built on an old case must not block the replacement; it goes with its case.
            try await db.execute("""
                INSERT INTO eval_items (id, suite, dataset_id, case_id, item)
                VALUES ('probe', 'disease', 'synth-ham', \(before[0][0]), '{}'::jsonb)
                """)
            let replaced = try await writer.write(try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 12, scale: .small), on: db)
            #expect(!replaced.unchanged)
            #expect(try await count("eval_items", on: db) == 0)
            #expect(replaced.replacedCases == before.count)
            let third = try await db.query(snapshot).map { try [$0.decode("id", as: String.self), $0.decode("image_sha256")] }
            #expect(third.count == replaced.writtenCases)
            #expect(Set(third.map { $0[1] }) != Set(before.map { $0[1] }))
            let seeds = try await db.query("SELECT DISTINCT metadata->>'seed' AS s FROM datasets").map { try $0.decode("s", as: String.self) }
            #expect(seeds == ["12"])
        }
    }
}
