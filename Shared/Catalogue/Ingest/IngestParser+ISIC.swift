import DataSynth
import Domain
import Foundation

// Dermoscopy collections of the ISIC family: HAM10000, ISIC 2019, BCN20000.
extension IngestParser {
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
}
