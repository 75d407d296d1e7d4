import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Store
import Testing
@testable import Catalogue

/// One case row as stored.
struct StoredIngestCase: Equatable {
    var id: String
    var dataset: String
    var sha256: String
    var labelCode: String
    var labelLevel: String?
    var node: String?
    var condition: String
    var split: String
    var groupKey: String?
    var sourceRow: String?
}

/// Helpers shared by the ingestion tests that run against the store.
enum IngestStore {
    static let logger: Logger = {
        var logger = Logger(label: "skinr1.ingest.tests")
        logger.logLevel = .warning
        return logger
    }()

    /// A fresh migrated database with the knowledge seeded.
    static func withSeededDatabase<T>(_ body: (PostgresConnection, KnowledgeBase) async throws -> T) async throws -> T {
        let knowledge = try KnowledgeBase.load()
        return try await withCatalogueDatabase { connection in
            _ = try await KnowledgeSeeder(logger: logger).seed(knowledge, on: connection)
            return try await body(connection, knowledge)
        }
    }

    static func ingest(_ format: IngestFormat, _ fixture: IngestFixture, knowledge: KnowledgeBase, skipBad: Bool = false,
                       seed: UInt64 = 7, on connection: PostgresConnection) async throws -> IngestReport {
        try await DatasetIngestor(knowledge: knowledge, logger: logger)
            .run(format, tree: fixture.tree(), root: fixture.root.path, options: IngestOptions(skipBad: skipBad, seed: seed),
                 on: connection)
    }

    static func cases(_ connection: PostgresConnection, dataset: String? = nil) async throws -> [StoredIngestCase] {
        let rows = try await connection.query("""
            SELECT id, dataset_id, image_sha256, label_code, label_level, node_id, condition, split, group_key, source_row
            FROM cases WHERE \(dataset)::text IS NULL OR dataset_id = \(dataset)::text ORDER BY id
            """)
        return try rows.map { row in
            StoredIngestCase(id: try row.decode("id"), dataset: try row.decode("dataset_id"), sha256: try row.decode("image_sha256"),
                             labelCode: try row.decode("label_code"), labelLevel: try row.decode("label_level"),
                             node: try row.decode("node_id"), condition: try row.decode("condition"),
                             split: try row.decode("split"), groupKey: try row.decode("group_key"),
                             sourceRow: try row.decode("source_row"))
        }
    }

    /// Counts of every catalogue table and a digest of all case, dataset and blob rows.
    static func snapshot(_ connection: PostgresConnection) async throws -> [String] {
        let row = try await connection.query("""
            SELECT (SELECT count(*) FROM datasets)::text AS datasets, (SELECT count(*) FROM cases)::text AS cases,
                   (SELECT count(*) FROM blobs)::text AS blobs, (SELECT count(*) FROM imports)::text AS imports,
                   (SELECT coalesce(md5(string_agg(c::text, '|' ORDER BY c.id)), '') FROM cases c) AS case_digest,
                   (SELECT coalesce(md5(string_agg(d::text, '|' ORDER BY d.id)), '') FROM datasets d) AS dataset_digest,
                   (SELECT coalesce(md5(string_agg(b.sha256 || b.media_type, '|' ORDER BY b.sha256)), '') FROM blobs b) AS blob_digest
            """)[0]
        return try ["datasets", "cases", "blobs", "imports", "case_digest", "dataset_digest", "blob_digest"].map {
            "\($0)=\(try row.decode($0, as: String.self))"
        }
    }

    static func role(of dataset: String, on connection: PostgresConnection) async throws -> String? {
        try await connection.query("SELECT role FROM datasets WHERE id = \(dataset)").first?.decode("role")
    }

    /// Every group key sits in exactly one split.
    static func groupsAreWhole(_ cases: [StoredIngestCase]) -> Bool {
        var splitOfGroup: [String: String] = [:]
        for item in cases {
            guard let key = item.groupKey else { continue }
            if let earlier = splitOfGroup[key], earlier != item.split { return false }
            splitOfGroup[key] = item.split
        }
        return true
    }
}

@Suite(.catalogueCluster, .timeLimit(.minutes(5)))
struct IngestFormatTests {
    @Test(.timeLimit(.minutes(3)))
    func ham10000ImportsWithLesionGroupsAndMappedLabels() async throws {
        let ham = try HAMFixture(lesions: 35)
        defer { ham.fixture.delete() }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == ham.images.count)
            #expect(report.datasets.map(\.inserted) == [ham.images.count])
            #expect(report.datasets.first?.newBlobs == ham.images.count)
            #expect(try await IngestStore.role(of: "ham10000", on: connection) == "train")
            let map = try #require(knowledge.labelMap(for: "HAM10000"))
            for image in ham.images {
                let stored = try #require(cases.first { $0.id == "ham10000:\(image.image)" })
                #expect(stored.labelCode == image.dx)
                #expect(stored.node == map.entry(for: image.dx)?.node)
                #expect(stored.groupKey == image.lesion)
                #expect(stored.sourceRow?.hasPrefix("HAM10000_metadata.csv:") == true)
            }
            #expect(cases.first { $0.labelCode == "akiec" }?.node == "keratinocytic_precancerous")
            #expect(cases.first { $0.labelCode == "akiec" }?.condition == "precancerous_in_situ")
            #expect(IngestStore.groupsAreWhole(cases))
            // 35 lesions, five per class: 3/1/1 lesions per class.
            #expect(Set(cases.map(\.split)) == ["train", "val", "test"])
            let mediaTypes = try await connection.query("SELECT DISTINCT media_type FROM blobs").map { try $0.decode("media_type", as: String.self) }
            #expect(mediaTypes == ["image/jpeg"])
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func ham10000WithTheISIC2018TestSetKeepsItAsTheTestSplit() async throws {
        let ham = try HAMFixture(lesions: 30, testSet: true)
        defer { ham.fixture.delete() }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            _ = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == ham.images.count + 3)
            let test = cases.filter { $0.split == "test" }
            #expect(Set(test.map(\.id)) == ["ham10000:ISIC_9000000", "ham10000:ISIC_9000001", "ham10000:ISIC_9000002"])
            #expect(test.map(\.labelCode).sorted() == ["mel", "nv", "vasc"])
            let metadataSplits = Set(cases.filter { $0.sourceRow?.hasPrefix("HAM10000_metadata.csv") == true }.map(\.split))
            #expect(metadataSplits == ["train", "val"])
            #expect(IngestStore.groupsAreWhole(cases))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func isic2019IsAnOutOfDistributionTestSetWithUNKLeftOut() async throws {
        let fixture = try IngestFixture("isic2019")
        defer { fixture.delete() }
        let classes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
        var truth = "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\n"
        var metadata = "image,age_approx,anatom_site_general,lesion_id,sex\n"
        for (i, name) in classes.enumerated() {
            let image = String(format: "ISIC_%07d", i)
            truth += image + "," + classes.map { $0 == name ? "1.0" : "0.0" }.joined(separator: ",") + "\n"
            metadata += "\(image),50,anterior torso,\(i < 2 ? "BCN_0000001" : ""),female\n"
            try fixture.write("ISIC_2019_Training_Input/\(image).jpg", IngestFixture.jpeg(i))
        }
        try fixture.write("ISIC_2019_Training_GroundTruth.csv", text: truth)
        try fixture.write("ISIC_2019_Training_Metadata.csv", text: metadata)
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.isic2019, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == 8)
            #expect(Set(cases.map(\.split)) == ["test"])
            #expect(try await IngestStore.role(of: "isic2019", on: connection) == "ood")
            #expect(cases.first { $0.labelCode == "SCC" }?.node == "squamous_cell_carcinoma")
            #expect(cases.first { $0.labelCode == "AK" }?.node == "keratinocytic_precancerous")
            #expect(cases.filter { $0.groupKey == "BCN_0000001" }.count == 2)
            let skipped = try #require(report.datasets.first?.skipped)
            #expect(skipped.map(\.reason) == ["left out"])
            #expect(skipped.first?.row == 10)
            let recorded = try await connection.query("SELECT skipped->>'total' AS total FROM imports").first?.decode("total", as: String.self)
            #expect(recorded == "1")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func bcn20000SplitsByLesionWhenTheSplitColumnNamesOneSplit() async throws {
        let fixture = try IngestFixture("bcn")
        defer { fixture.delete() }
        var csv = "bcn_filename,age_approx,anatom_site_general,diagnosis,lesion_id,capture_date,sex,split\n"
        var count = 0
        for lesion in 0..<20 {
            let code = ["NV", "MEL"][lesion % 2]
            for _ in 0..<(1 + lesion % 2) {
                let name = String(format: "BCN_%010d.jpg", count)
                csv += "\(name),55.0,anterior torso,\(code),\(String(format: "BCN_%07d", lesion)),2012-05-16,male,train\n"
                try fixture.write("BCN_20k_train/bcn_20k_train/\(name)", IngestFixture.jpeg(count))
                count += 1
            }
        }
        try fixture.write("bcn_20k_train.csv", text: csv)
        try await IngestStore.withSeededDatabase { connection, knowledge in
            _ = try await IngestStore.ingest(.bcn20000, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == count)
            #expect(IngestStore.groupsAreWhole(cases))
            // 10 lesions per class: 6:2:2 of lesions exactly.
            for code in ["NV", "MEL"] {
                var lesionsBySplit: [String: Set<String>] = [:]
                for item in cases where item.labelCode == code { lesionsBySplit[item.split, default: []].insert(item.groupKey ?? "") }
                #expect(lesionsBySplit.mapValues(\.count) == ["train": 6, "val": 2, "test": 2])
            }
            #expect(cases.first { $0.labelCode == "MEL" }?.node == "melanoma")
            #expect(cases.first?.id == "bcn20000:BCN_0000000000")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func padUfes20StoresPNGsAndKeepsPatientsTogether() async throws {
        let fixture = try IngestFixture("pad")
        defer { fixture.delete() }
        let header = "patient_id,lesion_id,smoke,drink,background_father,background_mother,age,pesticide,gender,skin_cancer_history,cancer_history,has_piped_water,has_sewage_system,fitspatrick,region,diameter_1,diameter_2,diagnostic,itch,grew,hurt,changed,bleed,elevation,img_id,biopsed"
        var csv = header + "\n"
        let codes = ["ACK", "BCC", "MEL", "NEV", "SCC", "SEK"]
        var count = 0
        for patient in 0..<12 {
            for lesion in 0..<(1 + patient % 3) {
                let image = "PAT_\(patient)_\(100 + lesion)_\(count).png"
                csv += "PAT_\(patient),\(100 + lesion),False,False,POMERANIA,POMERANIA,55,False,FEMALE,True,True,True,True,3.0,NECK,6.0,5.0,\(codes[patient % 6]),True,True,False,True,True,True,\(image),True\n"
                try fixture.write("images/imgs_part_\(1 + count % 3)/\(image)", IngestFixture.png(count))
                count += 1
            }
        }
        try fixture.write("metadata.csv", text: csv)
        try await IngestStore.withSeededDatabase { connection, knowledge in
            _ = try await IngestStore.ingest(.padUfes20, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == count)
            #expect(Set(cases.compactMap(\.groupKey)).count == 12)
            #expect(IngestStore.groupsAreWhole(cases))
            #expect(cases.first { $0.labelCode == "SEK" }?.node == "seborrheic_keratosis")
            #expect(cases.first { $0.labelCode == "ACK" }?.node == "actinic_keratosis")
            let mediaTypes = try await connection.query("SELECT DISTINCT media_type FROM blobs").map { try $0.decode("media_type", as: String.self) }
            #expect(mediaTypes == ["image/png"])
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func derm7ptFollowsTheOfficialIndexFiles() async throws {
        let fixture = try IngestFixture("derm7pt")
        defer { fixture.delete() }
        let diagnoses = ["basal cell carcinoma", "clark nevus", "melanoma (in situ)", "seborrheic keratosis", "blue nevus",
                         "melanoma (less than 0.76 mm)", "dermal nevus", "miscellaneous", "reed or spitz nevus", "lentigo"]
        var csv = "case_num,diagnosis,seven_point_score,pigment_network,streaks,pigmentation,regression_structures,dots_and_globules,blue_whitish_veil,vascular_structures,level_of_diagnostic_difficulty,elevation,location,sex,management,clinic,derm,case_id,notes\n"
        for (i, diagnosis) in diagnoses.enumerated() {
            let folder = "A\(i % 3)"
            csv += "\(i + 1),\(diagnosis),1,typical,absent,absent,absent,regular,absent,absent,low,flat,back,female,excision,\(folder)/c\(i).jpg,\(folder)/d\(i).jpg,,\n"
            try fixture.write("release_v0/images/\(folder)/d\(i).jpg", IngestFixture.jpeg(i))
            try fixture.write("release_v0/images/\(folder)/c\(i).jpg", IngestFixture.jpeg(100 + i))
        }
        try fixture.write("release_v0/meta/meta.csv", text: csv)
        try fixture.write("release_v0/meta/train_indexes.csv", text: "indexes\n0\n1\n2\n3\n4\n5\n")
        try fixture.write("release_v0/meta/valid_indexes.csv", text: "indexes\n6\n7\n")
        try fixture.write("release_v0/meta/test_indexes.csv", text: "indexes\n8\n9\n")
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.derm7pt, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == 9) // "miscellaneous" maps to no diagnosis
            let split = Dictionary(uniqueKeysWithValues: cases.map { ($0.labelCode, $0.split) })
            #expect(split["basal cell carcinoma"] == "train")
            #expect(split["melanoma (less than 0.76 mm)"] == "train")
            #expect(split["dermal nevus"] == "val")
            #expect(split["reed or spitz nevus"] == "test")
            #expect(split["lentigo"] == "test")
            #expect(cases.first { $0.labelCode == "clark nevus" }?.node == "dysplastic_nevus")
            #expect(cases.first { $0.labelCode == "melanoma (in situ)" }?.node == "melanoma_in_situ")
            #expect(cases.first { $0.labelCode == "dermal nevus" }?.id == "derm7pt:A0/d6.jpg")
            #expect(report.datasets.first?.skipped.map(\.row) == [9])
            // Only the dermoscopic image of each case is stored.
            #expect(try await count("blobs", on: connection) == 9)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func derm12345ReadsThreeLevelsAndCarvesValidationFromTrain() async throws {
        let fixture = try IngestFixture("derm12345")
        defer { fixture.delete() }
        let header = "image_id,patient_id,image_type,copyright-license,split,super_class,malignancy,main_class_1,main_class_2,sub_class,label"
        let kinds = [
            "melanocytic,benign,dysplastic,junctional,spitz_reed,srjd",
            "melanocytic,benign,lentigo,lentigo,solar_lentigo,sl",
            "nonmelanocytic,benign,keratinocytic,keratinocytic,seborrheic_keratosis,sk",
            "nonmelanocytic,malignant,keratinocytic,keratinocytic,basal_cell_carcinoma,bcc",
        ]
        var train = header + "\n", test = header + "\n"
        var count = 0
        for patient in 0..<16 {
            let isTest = patient >= 12
            for _ in 0..<(1 + patient % 2) {
                let kind = kinds[patient % 4]
                let label = String(kind.split(separator: ",").last!)
                let image = "DERM_\(100_000 + count)"
                let line = "\(image),PID_\(200 + patient),dermoscopic,CC-BY,\(isTest ? "test" : "train"),\(kind)\n"
                if isTest { test += line } else { train += line }
                try fixture.write("\(isTest ? "derm12345_test" : "derm12345_train_part_\(1 + count % 2)")/\(label)/\(image).jpg",
                                  IngestFixture.jpeg(count))
                count += 1
            }
        }
        try fixture.write("derm12345_metadata_train.csv", text: train)
        try fixture.write("derm12345_metadata_test.csv", text: test)
        try await IngestStore.withSeededDatabase { connection, knowledge in
            _ = try await IngestStore.ingest(.derm12345, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == count)
            #expect(IngestStore.groupsAreWhole(cases))
            let testPatients = Set(cases.filter { $0.split == "test" }.compactMap(\.groupKey))
            #expect(testPatients == ["PID_212", "PID_213", "PID_214", "PID_215"])
            #expect(Set(cases.filter { $0.split != "test" }.map(\.split)) == ["train", "val"])
            #expect(cases.first { $0.labelCode == "srjd" }?.node == "spitz_reed_nevus")
            #expect(cases.first { $0.labelCode == "srjd" }?.labelLevel == "label")
            #expect(cases.first { $0.labelCode == "bcc" }?.condition == "malignant")
            let levels = try await connection.query("""
                SELECT metadata->'labels'->>'super_class' AS super, metadata->'labels'->>'main_class' AS main
                FROM cases WHERE label_code = 'srjd' LIMIT 1
                """)[0]
            #expect(try levels.decode("super", as: String.self) == "melanocytic_benign")
            #expect(try levels.decode("main", as: String.self) == "dysplastic_junctional")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func dermNetResolvesMixedCategoriesByFileName() async throws {
        let fixture = try IngestFixture("dermnet")
        defer { fixture.delete() }
        let mixed = "Actinic Keratosis Basal Cell Carcinoma and other Malignant Lesions"
        let files = [
            "train/Eczema Photos/eczema-hand-1.jpg", "train/Eczema Photos/03EczemaExcoriated.jpg",
            "train/Eczema Photos/eczema-hand-2.jpg", "train/Eczema Photos/eczema-hand-3.jpg",
            "train/\(mixed)/basal-cell-carcinoma-1.jpg", "train/\(mixed)/nodular-basal-cell-carcinoma-face-2.jpg",
            "train/\(mixed)/actinic-keratosis-5.jpg", "train/\(mixed)/chondrodermatitis-7.jpg",
            "train/Seborrheic Keratoses and other Benign Tumors/seborrheic-keratosis-4.jpg",
            "train/Seborrheic Keratoses and other Benign Tumors/lipoma-1.jpg",
            "test/Lupus and other Connective Tissue Diseases/lupus-chronic-1.jpg",
            "test/Eczema Photos/eczema-hand-9.jpg",
        ]
        for (i, file) in files.enumerated() { try fixture.write(file, IngestFixture.jpeg(i)) }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.dermnet, fixture, knowledge: knowledge, on: connection)
            let cases = try await IngestStore.cases(connection)
            func node(_ file: String) -> String? { cases.first { $0.id == "dermnet:" + file }?.node }
            #expect(cases.count == files.count - 1)
            #expect(node("train/\(mixed)/basal-cell-carcinoma-1.jpg") == "basal_cell_carcinoma")
            #expect(node("train/\(mixed)/nodular-basal-cell-carcinoma-face-2.jpg") == "nodular_bcc")
            #expect(node("train/\(mixed)/actinic-keratosis-5.jpg") == "actinic_keratosis")
            #expect(node("train/Eczema Photos/03EczemaExcoriated.jpg") == "eczema_dermatitis")
            #expect(node("train/Seborrheic Keratoses and other Benign Tumors/seborrheic-keratosis-4.jpg") == "seborrheic_keratosis")
            #expect(node("train/Seborrheic Keratoses and other Benign Tumors/lipoma-1.jpg") == "nonmelanocytic_benign")
            #expect(node("test/Lupus and other Connective Tissue Diseases/lupus-chronic-1.jpg") == "connective_tissue_disease")
            let skipped = try #require(report.datasets.first?.skipped)
            #expect(skipped.map(\.file) == ["train/\(mixed)/chondrodermatitis-7.jpg"])
            #expect(skipped.first?.reason == "left out")
            #expect(Set(cases.filter { $0.id.hasPrefix("dermnet:test/") }.map(\.split)) == ["test"])
            #expect(cases.filter { $0.id.hasPrefix("dermnet:train/") }.allSatisfy { $0.split != "test" })
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func omniMedVQAKeepsDiseaseDiagnosisQuestionsOfTheDermoscopySubsets() async throws {
        let fixture = try IngestFixture("omnimedvqa")
        defer { fixture.delete() }
        func question(_ id: Int, _ type: String, _ image: String, _ answer: String) -> String {
            """
            {"dataset": "x", "question_id": "q\(id)", "question_type": "\(type)", "question": "What is shown?",
             "gt_answer": "\(answer)", "image_path": "\(image)", "option_A": "\(answer)", "option_B": "Other",
             "modality_type": "Dermoscopy"}
            """
        }
        let isic = "Images/ISIC2019/train/ISIC_0000001.jpg", isic2 = "Images/ISIC2019/train/ISIC_0000002.jpg"
        let isbi = "Images/ISBI2016/ISIC_0000100.jpg", isbi2 = "Images/ISBI2016/ISIC_0000101.jpg"
        let pox = "Images/Monkeypox Skin Image 2022/M01_01.jpg"
        for (i, path) in [isic, isic2, isbi, isbi2, pox].enumerated() { try fixture.write("OmniMedVQA/" + path, IngestFixture.jpeg(i)) }
        try fixture.write("OmniMedVQA/QA_information/Open-access/ISIC2019.json", text: "[" + [
            question(1, "Disease Diagnosis", isic, "Squamous cell carcinoma"),
            question(2, "Disease Diagnosis", isic, "Squamous cell carcinoma"),
            question(3, "Modality Recognition", isic, "Dermoscopy"),
            question(4, "Disease Diagnosis", isic2, "Melanoma."),
        ].joined(separator: ",") + "]")
        try fixture.write("OmniMedVQA/QA_information/Open-access/ISBI2016.json", text: "[" + [
            question(5, "Disease Diagnosis", isbi, "Benign image."), question(6, "Disease Diagnosis", isbi2, "Malignant image."),
        ].joined(separator: ",") + "]")
        try fixture.write("OmniMedVQA/QA_information/Open-access/Monkeypox Skin Image 2022.json",
                          text: "[" + question(7, "Disease Diagnosis", pox, "Monkeypox") + "]")
        try fixture.write("OmniMedVQA/QA_information/Open-access/Chest CT Scan.json", text: "[]")
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.omnimedvqa, fixture, knowledge: knowledge, on: connection)
            #expect(Set(report.datasets.map(\.datasetID)) == ["omnimedvqa-isic2019", "omnimedvqa-isbi2016", "omnimedvqa-monkeypox2022"])
            let cases = try await IngestStore.cases(connection)
            #expect(cases.count == 5)
            #expect(Set(cases.map(\.split)) == ["test"])
            for dataset in report.datasets { #expect(try await IngestStore.role(of: dataset.datasetID, on: connection) == "ood") }
            #expect(cases.first { $0.id == "omnimedvqa-isic2019:" + isic }?.node == "squamous_cell_carcinoma")
            #expect(cases.first { $0.id == "omnimedvqa-isic2019:" + isic2 }?.node == "melanoma")
            let benign = try #require(cases.first { $0.id == "omnimedvqa-isbi2016:" + isbi })
            #expect(benign.node == nil && benign.condition == "benign")
            #expect(cases.first { $0.id == "omnimedvqa-isbi2016:" + isbi2 }?.node == "melanoma")
            #expect(cases.first { $0.dataset == "omnimedvqa-monkeypox2022" }?.node == "mpox")
            let questions = try await connection.query("""
                SELECT jsonb_array_length(metadata->'questions') AS n FROM cases WHERE id = \("omnimedvqa-isic2019:" + isic)
                """)[0].decode("n", as: Int.self)
            #expect(questions == 2)
        }
    }
}

/// The bad-row kinds every import must stop on.
enum BadRow: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case missingImage, unknownLabel, malformedRow, corruptJPEG
    var testDescription: String { rawValue }

    /// Adds the bad row to a HAM10000 fixture; returns its line number and the error kind.
    func add(to ham: HAMFixture, index: Int) throws -> (line: Int, kind: IngestError.Kind) {
        let image = String(format: "ISIC_%07d", 8_000_000 + index)
        switch self {
        case .missingImage:
            return (try ham.append(["HAM_9000000,\(image),nv,histo,30.0,female,back"]), .missingImage)
        case .unknownLabel:
            try ham.fixture.write("HAM10000_images_part_1/\(image).jpg", IngestFixture.jpeg(900 + index))
            return (try ham.append(["HAM_9000001,\(image),melanocytic_thing,histo,30.0,female,back"]), .unknownLabel)
        case .malformedRow:
            try ham.fixture.write("HAM10000_images_part_1/\(image).jpg", IngestFixture.jpeg(900 + index))
            return (try ham.append(["HAM_9000002,\(image)"]), .malformedRow)
        case .corruptJPEG:
            let whole = try IngestFixture.jpeg(900 + index)
            try ham.fixture.write("HAM10000_images_part_2/\(image).jpg", Array(whole.prefix(whole.count / 2)))
            return (try ham.append(["HAM_9000003,\(image),nv,histo,30.0,female,back"]), .unreadableImage)
        }
    }
}

@Suite(.catalogueCluster, .timeLimit(.minutes(5)))
struct IngestFailureTests {
    @Test(.timeLimit(.minutes(3)), arguments: BadRow.allCases)
    func aBadRowAbortsTheImportNamingFileAndRowAndLeavesTheStoreUnchanged(_ bad: BadRow) async throws {
        let ham = try HAMFixture(lesions: 6)
        defer { ham.fixture.delete() }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            _ = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            let before = try await IngestStore.snapshot(connection)
            let (line, kind) = try bad.add(to: ham, index: 0)
            let aborted = await #expect(throws: IngestAborted.self) {
                _ = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            }
            let error = try #require(aborted?.errors.first)
            #expect(aborted?.errors.count == 1)
            #expect(error.kind == kind)
            #expect(error.location == SourceLocation(file: "HAM10000_metadata.csv", row: line))
            #expect(String(describing: aborted!).contains("HAM10000_metadata.csv row \(line)"))
            #expect(try await IngestStore.snapshot(connection) == before)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aFirstImportThatFailsWritesNothing() async throws {
        let ham = try HAMFixture(lesions: 4)
        defer { ham.fixture.delete() }
        _ = try BadRow.corruptJPEG.add(to: ham, index: 0)
        try await IngestStore.withSeededDatabase { connection, knowledge in
            await #expect(throws: IngestAborted.self) {
                _ = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            }
            var counts: [Int] = []
            for table in ["datasets", "cases", "imports", "blobs"] { counts.append(try await count(table, on: connection)) }
            #expect(counts == [0, 0, 0, 0])
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func skipBadImportsTheRestAndRecordsEverySkippedRow() async throws {
        let ham = try HAMFixture(lesions: 6)
        defer { ham.fixture.delete() }
        var expected: [(Int, IngestError.Kind)] = []
        for (i, bad) in BadRow.allCases.enumerated() { expected.append(try bad.add(to: ham, index: i)) }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let report = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, skipBad: true, on: connection)
            let dataset = try #require(report.datasets.first)
            #expect(dataset.imported == ham.images.count)
            #expect(try await count("cases", on: connection) == ham.images.count)
            #expect(dataset.skipped.map(\.row) == expected.map { $0.0 })
            #expect(dataset.skipped.map(\.reason) == expected.map { $0.1.name })
            #expect(dataset.skipped.allSatisfy { $0.file == "HAM10000_metadata.csv" })
            let recorded = try await connection.query("""
                SELECT skipped->>'total' AS total, jsonb_array_length(skipped->'rows') AS rows,
                       skipped->'by_reason'->>'unreadable image' AS unreadable, imported FROM imports
                """)[0]
            #expect(try recorded.decode("total", as: String.self) == "4")
            #expect(try recorded.decode("rows", as: Int.self) == 4)
            #expect(try recorded.decode("unreadable", as: String.self) == "1")
            #expect(try recorded.decode("imported", as: Int.self) == ham.images.count)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func reimportingTheSameTreeChangesNothing() async throws {
        let ham = try HAMFixture(lesions: 9, testSet: true)
        defer { ham.fixture.delete() }
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let first = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            let before = try await IngestStore.snapshot(connection)
            let second = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            let after = try await IngestStore.snapshot(connection)
            #expect(first.datasets.first?.inserted == ham.images.count + 3)
            let again = try #require(second.datasets.first)
            #expect(again.inserted == 0 && again.updated == 0 && again.newBlobs == 0)
            #expect(again.unchanged == ham.images.count + 3)
            // Everything but the import log is identical.
            #expect(before.filter { !$0.hasPrefix("imports=") } == after.filter { !$0.hasPrefix("imports=") })
            #expect(try await count("imports", on: connection) == 2)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func importingBeforeTheKnowledgeIsSeededSaysSo() async throws {
        let ham = try HAMFixture(lesions: 2)
        defer { ham.fixture.delete() }
        let knowledge = try KnowledgeBase.load()
        try await withCatalogueDatabase { connection in
            let error = await #expect(throws: IngestError.self) {
                _ = try await IngestStore.ingest(.ham10000, ham.fixture, knowledge: knowledge, on: connection)
            }
            #expect(error?.message.contains("skinr1 seed") == true)
            let cases = try await count("cases", on: connection)
            #expect(cases == 0)
        }
    }
    @Test(.timeLimit(.minutes(3)))
    func anImageThatChangesDuringTheWriteRollsEverythingBack() async throws {
        let ham = try HAMFixture(lesions: 6)
        defer { ham.fixture.delete() }
        let last = try #require(ham.images.last)
        let tree = ChangingTree(base: try ham.fixture.tree(), changing: "HAM10000_images_part_\(1 + (ham.images.count - 1) % 2)/\(last.image).jpg",
                                replacement: try IngestFixture.jpeg(4_242))
        try await IngestStore.withSeededDatabase { connection, knowledge in
            let error = await #expect(throws: IngestError.self) {
                _ = try await DatasetIngestor(knowledge: knowledge, logger: IngestStore.logger)
                    .run(.ham10000, tree: tree, root: ham.fixture.root.path, options: IngestOptions(), on: connection)
            }
            #expect(error?.message.contains("changed while it was being imported") == true)
            var counts: [Int] = []
            for table in ["datasets", "cases", "imports", "blobs"] { counts.append(try await count(table, on: connection)) }
            #expect(counts == [0, 0, 0, 0])
        }
    }
}

/// A tree whose one file reads differently from the second read on, as if replaced
/// between the checking and the writing of an import.
final class ChangingTree: IngestFileTree, @unchecked Sendable {
    // Safe to share: `reads` is only touched under `lock`.
    let base: DirectoryFileTree
    let changing: String
    let replacement: [UInt8]
    private var reads = 0
    private let lock = NSLock()

    init(base: DirectoryFileTree, changing: String, replacement: [UInt8]) {
        self.base = base
        self.changing = changing
        self.replacement = replacement
    }

    var paths: [String] { base.paths }

    func contents(of path: String) throws -> [UInt8] {
        guard path == changing else { return try base.contents(of: path) }
        lock.lock()
        reads += 1
        let first = reads == 1
        lock.unlock()
        return first ? try base.contents(of: path) : replacement
    }
}
