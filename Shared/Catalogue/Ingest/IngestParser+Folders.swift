import DataSynth
import Domain
import Foundation

// Layouts without a metadata table: DermNet's category folders, OmniMedVQA's question files.
extension IngestParser {
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
}
