import DataSynth
import Domain
import Foundation

// Datasets from single clinics with their own metadata: PAD-UFES-20, Derm7pt, DERM12345.
extension IngestParser {
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
}
