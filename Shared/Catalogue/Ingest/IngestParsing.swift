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

/// The catalogue datasets each format writes.
public struct IngestDataset: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The label-map dataset of the knowledge whose codes the files use.
    public var labelMap: String
    public var role: CorpusRole
    public var source: String
    public var imageStyle: String
    public var labelGranularity: String
    public var description: String

    /// Every dataset `skinr1 data ingest` may write, by id.
    public static let all: [String: IngestDataset] = {
        let list = [
            IngestDataset(id: "ham10000", name: "HAM10000", labelMap: "HAM10000", role: .train,
                             source: "Harvard Dataverse doi:10.7910/DVN/DBW86T (Kaggle skin-cancer-mnist-ham10000)",
                             imageStyle: "dermoscopy", labelGranularity: "7 classes (dx)",
                             description: "Dermoscopic images of pigmented lesions from Vienna and Queensland; several images per lesion."),
            IngestDataset(id: "isic2019", name: "ISIC 2019", labelMap: "ISIC2019", role: .ood,
                             source: "ISIC 2019 challenge training data (challenge.isic-archive.com)",
                             imageStyle: "dermoscopy", labelGranularity: "9 classes (one-hot ground truth)",
                             description: "Out-of-distribution evaluation only: it contains HAM10000 and BCN20000 images, so it never trains the policy."),
            IngestDataset(id: "bcn20000", name: "BCN20000", labelMap: "BCN20000", role: .train,
                             source: "Hospital Clinic Barcelona, BCN20000 release (bcn_20k_train.csv)",
                             imageStyle: "dermoscopy", labelGranularity: "8 classes (diagnosis)",
                             description: "Dermoscopic images from Hospital Clinic Barcelona, 2010-2016; several images per lesion."),
            IngestDataset(id: "pad-ufes-20", name: "PAD-UFES-20", labelMap: "PAD-UFES-20", role: .train,
                             source: "Mendeley Data doi:10.17632/zr7vgbcyr2.1",
                             imageStyle: "clinical_photo", labelGranularity: "6 classes (diagnostic)",
                             description: "Smartphone clinical photographs from Brazil with patient metadata; several lesions per patient."),
            IngestDataset(id: "derm7pt", name: "Derm7pt", labelMap: "Derm7pt", role: .train,
                             source: "Seven-Point Checklist dataset, derm.cs.sfu.ca (release_v0)",
                             imageStyle: "dermoscopy", labelGranularity: "20 diagnoses",
                             description: "One dermoscopic image per case (the clinical image is recorded in the case metadata)."),
            IngestDataset(id: "derm12345", name: "DERM12345", labelMap: "DERM12345", role: .train,
                             source: "Harvard Dataverse doi:10.7910/DVN/DAXZ7P",
                             imageStyle: "dermoscopy", labelGranularity: "5 super classes / 15 main classes / 40 subclasses",
                             description: "Dermoscopic images from Turkiye with a three-level label tree; several images per patient."),
            IngestDataset(id: "dermnet", name: "DermNet", labelMap: "DermNet", role: .train,
                             source: "DermNet image library (Kaggle dermnet copy)",
                             imageStyle: "clinical_photo", labelGranularity: "23 categories; file-name diagnoses",
                             description: "Clinical photographs in 23 category folders; mixed categories resolved by file-name diagnosis."),
        ] + OmniMedVQASubset.all.map(\.dataset)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
    }()

    public static func forFormat(_ format: IngestFormat) -> [IngestDataset] {
        switch format {
        case .ham10000: [all["ham10000"]!]
        case .isic2019: [all["isic2019"]!]
        case .bcn20000: [all["bcn20000"]!]
        case .padUfes20: [all["pad-ufes-20"]!]
        case .derm7pt: [all["derm7pt"]!]
        case .derm12345: [all["derm12345"]!]
        case .dermnet: [all["dermnet"]!]
        case .omnimedvqa: OmniMedVQASubset.all.map(\.dataset)
        }
    }
}

/// The dermoscopy question files of OmniMedVQA used for out-of-distribution tests.
public struct OmniMedVQASubset: Sendable {
    public var questionFile: String
    public var dataset: IngestDataset

    public static let all: [OmniMedVQASubset] = [
        subset("ISBI2016.json", id: "isbi2016", name: "ISBI 2016", labelMap: "ISBI2016", style: "dermoscopy"),
        subset("ISIC2018.json", id: "isic2018", name: "ISIC 2018", labelMap: "ISIC2018", style: "dermoscopy"),
        subset("ISIC2019.json", id: "isic2019", name: "ISIC 2019", labelMap: "ISIC2019", style: "dermoscopy"),
        subset("ISIC2020.json", id: "isic2020", name: "ISIC 2020", labelMap: "ISIC2020", style: "dermoscopy"),
        subset("Monkeypox Skin Image 2022.json", id: "monkeypox2022", name: "Monkeypox Skin Image 2022",
               labelMap: "Monkeypox2022", style: "clinical_photo"),
    ]

    private static func subset(_ file: String, id: String, name: String, labelMap: String, style: String) -> OmniMedVQASubset {
        OmniMedVQASubset(questionFile: file, dataset: IngestDataset(
            id: "omnimedvqa-" + id, name: "OmniMedVQA \(name)", labelMap: labelMap, role: .ood,
            source: "OmniMedVQA (foreverbeliever/OmniMedVQA), QA_information/*/\(file)",
            imageStyle: style, labelGranularity: "answer text of Disease Diagnosis questions",
            description: "Out-of-distribution evaluation: \"Disease Diagnosis\" questions only, with their options in the case metadata."))
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

    // MARK: HAM10000

    /// `HAM10000_metadata.csv` (or without extension) with lesion_id, image_id, dx; images
    /// `<image_id>.jpg` anywhere below (HAM10000_images_part_1/2). With
    /// `ISIC2018_Task3_Test_GroundTruth.csv` present, its rows are the official test split
    /// (HAM-style image_id,dx columns or the challenge's one-hot columns).
    static func parseHAM10000(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "ham10000"
        let metadataPath = try findFile(in: tree, format: "ham10000", names: ["ham10000_metadata.csv", "ham10000_metadata"])
        let testPath = findOptionalFile(in: tree, names: ["isic2018_task3_test_groundtruth.csv"])
        var result = ParsedDataset()
        let table = try CSVTable(file: metadataPath, text: tree.text(of: metadataPath))
        let lesion = try table.column("lesion_id")
        let image = try table.column("image_id")
        let dx = try table.column("dx")
        let extra = ["dx_type", "age", "sex", "localization", "dataset"].filter(table.hasColumn)
        for record in table.records {
            do throws(IngestError) {
                let imageID = try nonEmpty(table, record, image, "image_id")
                let code = try nonEmpty(table, record, dx, "dx")
                let path = try images.find(stem: imageID, at: SourceLocation(file: metadataPath, row: record.line))
                result.rows.append(IngestRow(
                    labelDataset: "HAM10000", dataset: dataset, source: SourceLocation(file: metadataPath, row: record.line),
                    imageID: imageID, imagePath: path, labels: ["dx": code], levelOrder: ["dx"],
                    groupKey: optional(try table.field(record, lesion)),
                    officialSplit: testPath == nil ? nil : .train,
                    metadata: try metadataFields(table, record, extra)))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        guard let testPath else { return result }
        let test = try CSVTable(file: testPath, text: tree.text(of: testPath))
        let testImage = try test.column(anyOf: ["image_id", "image"])
        let testLesion = test.hasColumn("lesion_id") ? try test.column("lesion_id") : nil
        let testDx = test.hasColumn("dx") ? try test.column("dx") : nil
        for record in test.records {
            let location = SourceLocation(file: testPath, row: record.line)
            do throws(IngestError) {
                let imageID = try nonEmpty(test, record, testImage, "image")
                // The challenge's one-hot columns are the HAM codes in capitals.
                let code: String
                if let testDx {
                    code = try nonEmpty(test, record, testDx, "dx")
                } else {
                    code = try oneHotClass(test, record, skipping: [testImage]).lowercased()
                }
                var group: String?
                if let testLesion { group = optional(try test.field(record, testLesion)) }
                let path = try images.find(stem: imageID, at: location)
                result.rows.append(IngestRow(
                    labelDataset: "HAM10000", dataset: dataset, source: location, imageID: imageID, imagePath: path,
                    labels: ["dx": code], levelOrder: ["dx"],
                    groupKey: group,
                    officialSplit: .test))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        return result
    }

    // MARK: ISIC 2019

    /// `ISIC_2019_Training_GroundTruth.csv` (image + one-hot class columns), optional
    /// `ISIC_2019_Training_Metadata.csv` for lesion ids, images `<image>.jpg` below.
    static func parseISIC2019(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "isic2019"
        let truthPath = try findFile(in: tree, format: "isic2019", names: ["isic_2019_training_groundtruth.csv"])
        let table = try CSVTable(file: truthPath, text: tree.text(of: truthPath))
        let image = try table.column("image")
        var lesions: [String: String] = [:]
        var extras: [String: [String: JSONValue]] = [:]
        if let metadataPath = findOptionalFile(in: tree, names: ["isic_2019_training_metadata.csv"]) {
            let metadata = try CSVTable(file: metadataPath, text: tree.text(of: metadataPath))
            let metaImage = try metadata.column("image")
            let lesion = metadata.hasColumn("lesion_id") ? try metadata.column("lesion_id") : nil
            let extra = ["age_approx", "anatom_site_general", "sex"].filter(metadata.hasColumn)
            for record in metadata.records {
                guard let id = try? metadata.field(record, metaImage), !id.isEmpty else { continue }
                if let lesion, let value = optional((try? metadata.field(record, lesion)) ?? "") { lesions[id] = value }
                extras[id] = (try? metadataFields(metadata, record, extra)) ?? [:]
            }
        }
        var result = ParsedDataset()
        for record in table.records {
            let location = SourceLocation(file: truthPath, row: record.line)
            do throws(IngestError) {
                let imageID = try nonEmpty(table, record, image, "image")
                let code = try oneHotClass(table, record, skipping: [image])
                let path = try images.find(stem: imageID, at: location)
                result.rows.append(IngestRow(
                    labelDataset: "ISIC2019", dataset: dataset, source: location, imageID: imageID, imagePath: path,
                    labels: ["class": code], levelOrder: ["class"], groupKey: lesions[imageID], officialSplit: nil,
                    metadata: extras[imageID] ?? [:]))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        return result
    }

    // MARK: BCN20000

    /// `bcn_20k_train.csv` with bcn_filename, diagnosis, lesion_id and split; images by
    /// file name below (BCN_20k_train/bcn_20k_train/). The test CSV carries no diagnosis
    /// and is not read. The split column is used when it names more than one split.
    static func parseBCN20000(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "bcn20000"
        let path = try findFile(in: tree, format: "bcn20000", names: ["bcn_20k_train.csv"])
        let table = try CSVTable(file: path, text: tree.text(of: path))
        let file = try table.column("bcn_filename")
        let diagnosis = try table.column("diagnosis")
        let lesion = try table.column("lesion_id")
        let split = table.hasColumn("split") ? try table.column("split") : nil
        let extra = ["age_approx", "anatom_site_general", "capture_date", "sex"].filter(table.hasColumn)
        var result = ParsedDataset()
        for record in table.records {
            let location = SourceLocation(file: path, row: record.line)
            do throws(IngestError) {
                let fileName = try nonEmpty(table, record, file, "bcn_filename")
                let code = try nonEmpty(table, record, diagnosis, "diagnosis")
                var official: CorpusSplit?
                if let split {
                    let text = try table.field(record, split)
                    if !text.isEmpty {
                        guard let value = CorpusSplit(datasetText: text) else {
                            throw IngestError(.malformedRow, at: location, "split \"\(text)\" is not train, val or test")
                        }
                        official = value
                    }
                }
                let imagePath = try images.find(fileName: fileName, at: location)
                result.rows.append(IngestRow(
                    labelDataset: "BCN20000", dataset: dataset, source: location,
                    imageID: RelativePath.stem(fileName), imagePath: imagePath,
                    labels: ["diagnosis": code], levelOrder: ["diagnosis"],
                    groupKey: optional(try table.field(record, lesion)), officialSplit: official,
                    metadata: try metadataFields(table, record, extra)))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        // A split column that names one split only (the train CSV saying "train") is not a split.
        if Set(result.rows.compactMap(\.officialSplit)).count < 2 {
            for i in result.rows.indices { result.rows[i].officialSplit = nil }
        }
        return result
    }

    // MARK: PAD-UFES-20

    /// `metadata.csv` (26 columns, img_id and diagnostic), PNG images under
    /// images/imgs_part_N/; grouped by patient, since one patient has several lesions.
    static func parsePADUFES20(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "pad-ufes-20"
        let path = try findFile(in: tree, format: "pad-ufes-20", names: ["metadata.csv"])
        let table = try CSVTable(file: path, text: tree.text(of: path))
        let patient = try table.column("patient_id")
        let lesion = try table.column("lesion_id")
        let diagnostic = try table.column("diagnostic")
        let image = try table.column("img_id")
        let extra = ["age", "gender", "region", "fitspatrick", "diameter_1", "diameter_2", "itch", "grew", "hurt",
                     "changed", "bleed", "elevation", "biopsed"].filter(table.hasColumn)
        var result = ParsedDataset()
        for record in table.records {
            let location = SourceLocation(file: path, row: record.line)
            do throws(IngestError) {
                let fileName = try nonEmpty(table, record, image, "img_id")
                let code = try nonEmpty(table, record, diagnostic, "diagnostic")
                let patientID = try nonEmpty(table, record, patient, "patient_id")
                var metadata = try metadataFields(table, record, extra)
                metadata["lesion_id"] = .string(try table.field(record, lesion))
                let imagePath = try images.find(fileName: fileName, at: location)
                result.rows.append(IngestRow(
                    labelDataset: "PAD-UFES-20", dataset: dataset, source: location,
                    imageID: RelativePath.stem(fileName), imagePath: imagePath,
                    labels: ["diagnostic": code], levelOrder: ["diagnostic"],
                    groupKey: patientID, officialSplit: nil, metadata: metadata))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        return result
    }

    // MARK: Derm7pt

    /// `meta/meta.csv` (diagnosis, case_num, derm and clinic image paths relative to
    /// `images/`), official splits in `meta/{train,valid,test}_indexes.csv` holding
    /// 0-based row positions in the `indexes` column. One dermoscopic image per case.
    static func parseDerm7pt(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "derm7pt"
        let metaPath = try findFile(in: tree, format: "derm7pt", names: ["meta.csv"], under: "meta")
        let metaDirectory = RelativePath.directory(metaPath)
        let base = RelativePath.directory(metaDirectory)
        let table = try CSVTable(file: metaPath, text: tree.text(of: metaPath))
        let caseNumber = try table.column("case_num")
        let diagnosis = try table.column("diagnosis")
        let derm = try table.column("derm")
        let clinic = table.hasColumn("clinic") ? try table.column("clinic") : nil
        let extra = ["seven_point_score", "pigment_network", "streaks", "pigmentation", "regression_structures",
                     "dots_and_globules", "blue_whitish_veil", "vascular_structures", "level_of_diagnostic_difficulty",
                     "elevation", "location", "sex", "management"].filter(table.hasColumn)

        // Official split: row position -> split, from whichever index files exist.
        var splitOfPosition: [Int: CorpusSplit] = [:]
        var haveIndexes = false
        let known = Set(tree.paths)
        for (name, split) in [("train_indexes.csv", CorpusSplit.train), ("valid_indexes.csv", .val), ("test_indexes.csv", .test)] {
            let indexPath = RelativePath.join(metaDirectory, name)
            guard known.contains(indexPath) else { continue }
            haveIndexes = true
            let indexTable = try CSVTable(file: indexPath, text: tree.text(of: indexPath))
            let column = indexTable.hasColumn("indexes") ? try indexTable.column("indexes") : 0
            for record in indexTable.records {
                let text = try indexTable.field(record, column)
                guard let position = Int(text), position >= 0, position < table.records.count else {
                    throw IngestError(.malformedRow, file: indexPath, row: record.line,
                                      "index \"\(text)\" is not a row position of \(metaPath) (0..<\(table.records.count))")
                }
                if let earlier = splitOfPosition[position], earlier != split {
                    throw IngestError(.malformedRow, file: indexPath, row: record.line,
                                      "row position \(position) is already in the \(earlier.rawValue) split")
                }
                splitOfPosition[position] = split
            }
        }

        var result = ParsedDataset()
        for (position, record) in table.records.enumerated() {
            let location = SourceLocation(file: metaPath, row: record.line)
            do throws(IngestError) {
                let number = try nonEmpty(table, record, caseNumber, "case_num")
                let code = try nonEmpty(table, record, diagnosis, "diagnosis")
                let dermPath = try nonEmpty(table, record, derm, "derm")
                let imagePath = RelativePath.join(RelativePath.join(base, "images"), dermPath)
                guard images.contains(imagePath) else {
                    throw IngestError(.missingImage, at: location, "image \(imagePath) not found")
                }
                let split = splitOfPosition[position]
                if haveIndexes && split == nil {
                    throw IngestError(.malformedRow, at: location, "row position \(position) is in none of the split index files")
                }
                var metadata = try metadataFields(table, record, extra)
                metadata["case_num"] = .string(number)
                if let clinic { metadata["clinic_image"] = .string(try table.field(record, clinic)) }
                result.rows.append(IngestRow(
                    labelDataset: "Derm7pt", dataset: dataset, source: location, imageID: dermPath, imagePath: imagePath,
                    labels: ["diagnosis": code], levelOrder: ["diagnosis"], groupKey: "case " + number,
                    officialSplit: split, metadata: metadata))
            } catch {
                result.problems.append(RowProblem(dataset: dataset, error: error))
            }
        }
        return result
    }

    // MARK: DERM12345

    /// `derm12345_metadata_train.csv` / `_test.csv` (`.tab` is read tab-separated): image_id,
    /// patient_id, super_class, malignancy, main_class_1, main_class_2, label (and split);
    /// images `<label>/<image_id>.jpg` below the part folders. The split column, else the
    /// file name, gives the official train/test split.
    static func parseDERM12345(_ tree: some IngestFileTree, _ images: ImageIndex) throws(IngestError) -> ParsedDataset {
        let dataset = "derm12345"
        let metadataPaths = tree.paths.filter {
            let name = RelativePath.fileName($0).lowercased()
            return name.hasPrefix("derm12345_metadata") && (name.hasSuffix(".csv") || name.hasSuffix(".tab"))
        }
        guard !metadataPaths.isEmpty else {
            throw IngestError(.layout, file: ".", row: nil, "no derm12345_metadata_train.csv or derm12345_metadata_test.csv below the root")
        }
        var result = ParsedDataset()
        for path in metadataPaths {
            let delimiter: Character = path.lowercased().hasSuffix(".tab") ? "\t" : ","
            let table = try CSVTable(file: path, text: tree.text(of: path), delimiter: delimiter)
            let image = try table.column("image_id")
            let patient = try table.column("patient_id")
            let label = try table.column("label")
            let superClass = try table.column("super_class")
            let malignancy = try table.column("malignancy")
            let main1 = try table.column("main_class_1")
            let main2 = try table.column("main_class_2")
            let split = table.hasColumn("split") ? try table.column("split") : nil
            let name = RelativePath.fileName(path).lowercased()
            let fileSplit: CorpusSplit? = name.contains("test") ? .test : name.contains("train") ? .train : nil
            let extra = ["image_type", "sub_class"].filter(table.hasColumn)
            for record in table.records {
                let location = SourceLocation(file: path, row: record.line)
                do throws(IngestError) {
                    let imageID = try nonEmpty(table, record, image, "image_id")
                    let code = try nonEmpty(table, record, label, "label")
                    let lineage = try table.field(record, superClass).lowercased()
                    let malignant = try table.field(record, malignancy).lowercased()
                    let first = try table.field(record, main1).lowercased()
                    let second = try table.field(record, main2).lowercased()
                    var labels = ["label": code]
                    if !lineage.isEmpty && !malignant.isEmpty { labels["super_class"] = lineage + "_" + malignant }
                    if lineage == "melanocytic" {
                        if !first.isEmpty { labels["main_class"] = (second.isEmpty || second == first) ? first : first + "_" + second }
                    } else if !first.isEmpty && !malignant.isEmpty {
                        labels["main_class"] = malignant + "_" + first
                    }
                    var official = fileSplit
                    if let split, let value = CorpusSplit(datasetText: try table.field(record, split)) { official = value }
                    let imagePath = try images.find(stem: imageID, preferringDirectory: code, at: location)
                    result.rows.append(IngestRow(
                        labelDataset: "DERM12345", dataset: dataset, source: location, imageID: imageID, imagePath: imagePath,
                        labels: labels, levelOrder: ["super_class", "main_class", "label"],
                        groupKey: optional(try table.field(record, patient)), officialSplit: official,
                        metadata: try metadataFields(table, record, extra)))
                } catch {
                    result.problems.append(RowProblem(dataset: dataset, error: error))
                }
            }
        }
        return result
    }

    // MARK: DermNet

    /// `train/<category>/<file>.jpg` and `test/<category>/<file>.jpg`: the folder is the
    /// category, the file name (without `-<number>`, hyphens read as spaces) the diagnosis.
    /// The train/test folders are the official split. No patient ids exist.
    static func parseDermNet(_ tree: some IngestFileTree) -> ParsedDataset {
        let dataset = "dermnet"
        var result = ParsedDataset()
        for path in tree.paths {
            let parts = RelativePath.components(path)
            guard parts.count >= 3, let split = CorpusSplit(datasetText: parts[parts.count - 3]), split != .val else { continue }
            let fileName = parts[parts.count - 1]
            let category = parts[parts.count - 2]
            let location = SourceLocation(file: path, row: nil)
            guard RelativePath.imageExtensions.contains(RelativePath.fileExtension(fileName)) else {
                result.problems.append(RowProblem(dataset: dataset, error: IngestError(
                    .malformedRow, at: location, "not an image file (expected .jpg, .jpeg or .png)")))
                continue
            }
            result.rows.append(IngestRow(
                labelDataset: "DermNet", dataset: dataset, source: location,
                imageID: parts.suffix(3).joined(separator: "/"), imagePath: path,
                labels: ["category": category, "diagnosis": dermNetDiagnosis(fileName)],
                levelOrder: ["category", "diagnosis"], groupKey: nil, officialSplit: split))
        }
        return result
    }

    /// "nodular-basal-cell-carcinoma-12.jpg" -> "nodular basal cell carcinoma".
    static func dermNetDiagnosis(_ fileName: String) -> String {
        var stem = RelativePath.stem(fileName)
        if let dash = stem.lastIndex(of: "-"), !stem[stem.index(after: dash)...].isEmpty,
           stem[stem.index(after: dash)...].allSatisfy(\.isNumber) {
            stem = String(stem[..<dash])
        }
        return stem.replacingOccurrences(of: "-", with: " ").trimmingCharacters(in: .whitespaces)
    }

    // MARK: OmniMedVQA

    /// `QA_information/{Open,Restricted}-access/<subset>.json` (a list of question dicts);
    /// `image_path` is relative to the folder holding QA_information. Only "Disease
    /// Diagnosis" questions; one row per image, its questions in the metadata.
    static func parseOmniMedVQA(_ tree: some IngestFileTree) throws(IngestError) -> ParsedDataset {
        let known = Set(tree.paths)
        var result = ParsedDataset()
        var foundAny = false
        for subset in OmniMedVQASubset.all {
            let files = tree.paths.filter {
                let parts = RelativePath.components($0)
                return parts.count >= 3 && parts[parts.count - 1] == subset.questionFile
                    && parts[parts.count - 3] == "QA_information"
            }
            for path in files {
                foundAny = true
                let base = RelativePath.directory(RelativePath.directory(RelativePath.directory(path)))
                let items: [JSONValue]
                do {
                    items = try JSONDecoder().decode([JSONValue].self, from: Data(tree.contents(of: path)))
                } catch {
                    throw IngestError(.layout, file: path, row: nil, "is not a JSON list of questions: \(error)")
                }
                var rowOfImage: [String: Int] = [:]
                for (index, item) in items.enumerated() {
                    let location = SourceLocation(file: path, row: index + 1)
                    do throws(IngestError) {
                        guard case .object(let fields) = item else {
                            throw IngestError(.malformedRow, at: location, "question \(index + 1) is not a JSON object")
                        }
                        func text(_ key: String) throws(IngestError) -> String {
                            guard let value = fields[key]?.stringValue?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                                throw IngestError(.malformedRow, at: location, "question \(index + 1) has no \(key)")
                            }
                            return value
                        }
                        guard try text("question_type") == "Disease Diagnosis" else { continue }
                        let imagePath = RelativePath.join(base, try text("image_path"))
                        let answer = try text("gt_answer")
                        guard known.contains(imagePath) else {
                            throw IngestError(.missingImage, at: location, "image \(imagePath) not found")
                        }
                        var question: [String: JSONValue] = ["question": .string(try text("question")), "gt_answer": .string(answer)]
                        for key in ["question_id", "option_A", "option_B", "option_C", "option_D"] {
                            if let value = fields[key] { question[key] = value }
                        }
                        if let existing = rowOfImage[imagePath] {
                            let earlier = result.rows[existing]
                            guard TextNormalizer.key(earlier.labels["answer"] ?? "") == TextNormalizer.key(answer) else {
                                throw IngestError(.malformedRow, at: location,
                                                  "answers \"\(answer)\" for \(imagePath), which \(earlier.source) answers \"\(earlier.labels["answer"] ?? "")\"")
                            }
                            if case .array(var questions) = result.rows[existing].metadata["questions"] {
                                questions.append(.object(question))
                                result.rows[existing].metadata["questions"] = .array(questions)
                            }
                            continue
                        }
                        rowOfImage[imagePath] = result.rows.count
                        result.rows.append(IngestRow(
                            labelDataset: subset.dataset.labelMap, dataset: subset.dataset.id, source: location,
                            imageID: try text("image_path"), imagePath: imagePath,
                            labels: ["answer": answer], levelOrder: ["answer"], groupKey: nil, officialSplit: .test,
                            metadata: ["questions": .array([.object(question)])]))
                    } catch {
                        result.problems.append(RowProblem(dataset: subset.dataset.id, error: error))
                    }
                }
            }
        }
        guard foundAny else {
            throw IngestError(.layout, file: ".", row: nil,
                              "no QA_information/*/ question file of \(OmniMedVQASubset.all.map(\.questionFile).joined(separator: ", ")) below the root")
        }
        return result
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
