import Catalogue
import Domain

/// The evaluation suites of METHOD.md 7, as the `eval_items.suite` column names them.
public enum EvaluationSuite: String, Codable, Sendable, CaseIterable, Comparable {
    /// In-distribution disease diagnosis, per training dataset (test split).
    case disease
    /// Disease diagnosis on datasets never used in training.
    case ood
    /// Benign / malignant / precancerous in situ, from the test splits of the training datasets.
    case lesionCondition = "lesion_condition"
    /// Distractors are ancestors of the ground truth.
    case hierarchical
    /// Distractors are DDx-graph neighbours of the ground truth.
    case ddx

    public static func < (a: EvaluationSuite, b: EvaluationSuite) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One evaluation item of a suite, as stored in `eval_items`.
public struct EvaluationSuiteItem: Sendable, Equatable {
    public var suite: EvaluationSuite
    public var datasetID: String
    public var item: QuestionItem

    public init(suite: EvaluationSuite, datasetID: String, item: QuestionItem) {
        self.suite = suite
        self.datasetID = datasetID
        self.item = item
    }

    /// The `eval_items` primary key: the builder's id (kind, case, seed) plus the image, so
    /// that a catalogue rewritten under the same case ids never reuses an old item.
    public var id: String { item.id }
}

/// Which items a run evaluates when `evalItemsPerSuite` limits a suite: the cases of each
/// suite and dataset ranked by a seeded hash, first N kept. The synthesizer and the
/// evaluator rank with this one function, so both see the same items, and the N-item
/// selection of a seed is contained in its M-item selection for every M > N.
public enum EvaluationSelection {
    public static func rank(seed: UInt64, suite: EvaluationSuite, caseID: String) -> UInt64 {
        StableHash.fnv1a64("eval-select|\(seed)|\(suite.rawValue)|\(caseID)")
    }

    /// `items` ordered by rank, at most `limit` per (suite, dataset) when `limit` > 0.
    public static func select(_ items: [EvaluationSuiteItem], seed: UInt64, limit: Int) -> [EvaluationSuiteItem] {
        let ordered = items.sorted { a, b in
            if a.suite != b.suite { return a.suite < b.suite }
            if a.datasetID != b.datasetID { return a.datasetID < b.datasetID }
            let ra = rank(seed: seed, suite: a.suite, caseID: a.item.caseID)
            let rb = rank(seed: seed, suite: b.suite, caseID: b.item.caseID)
            return ra != rb ? ra < rb : a.item.caseID < b.item.caseID
        }
        guard limit > 0 else { return ordered }
        var taken: [String: Int] = [:]
        return ordered.filter { entry in
            let key = "\(entry.suite.rawValue)|\(entry.datasetID)"
            guard taken[key, default: 0] < limit else { return false }
            taken[key, default: 0] += 1
            return true
        }
    }
}

/// What building the suites left out, and why (counts per reason).
public struct SkipTally: Sendable, Equatable, CustomStringConvertible {
    public private(set) var counts: [String: Int] = [:]

    public init() {}

    public mutating func add(_ reason: String) { counts[reason, default: 0] += 1 }
    public var total: Int { counts.values.reduce(0, +) }
    public var description: String {
        counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}

/// Builds the evaluation suites from the catalogue's cases (METHOD.md 4 and 7). Pure.
public struct EvaluationSuiteBuilder: Sendable {
    public let builder: QuestionBuilder

    public init(builder: QuestionBuilder) {
        self.builder = builder
    }

    /// Every suite: disease, lesion condition, hierarchical and DDx from the test split of
    /// each training dataset; OOD from every case of each OOD dataset. At most `limit` items
    /// per suite and dataset when `limit` > 0, chosen by `EvaluationSelection`.
    public func build(training: [StoredCase], ood: [StoredCase], seed: UInt64, limit: Int,
                      skipped: inout SkipTally) -> [EvaluationSuiteItem] {
        var items: [EvaluationSuiteItem] = []
        let trainingByDataset = Dictionary(grouping: training, by: \.datasetID)
        let pathTerms = DatasetPathTerms(cases: training.compactMap(Self.questionCase), taxonomy: builder.taxonomy)
        for dataset in trainingByDataset.keys.sorted() {
            let cases = trainingByDataset[dataset]!
            let test = cases.filter { $0.split == .test }
            let datasetLabels = Set(cases.compactMap(\.node))
            items += take(.disease, dataset: dataset, from: test, seed: seed, limit: limit, skipped: &skipped) { c in
                try builder.diseaseItem(for: c, pathTerms: pathTerms, seed: seed)
            }
            items += take(.hierarchical, dataset: dataset, from: test, seed: seed, limit: limit, skipped: &skipped) { c in
                try builder.hierarchicalItem(for: c, seed: seed)
            }
            items += take(.ddx, dataset: dataset, from: test, seed: seed, limit: limit, skipped: &skipped) { c in
                try builder.ddxItem(for: c, caseLabels: datasetLabels, seed: seed)
            }
            // Lesion condition needs no diagnosis node: condition-only cases count too.
            for stored in rank(test, suite: .lesionCondition, seed: seed).prefix(limit > 0 ? limit : Int.max) {
                let item = builder.conditionItem(caseID: stored.id, dataset: dataset, imageSHA: stored.imageSHA256,
                                                 condition: stored.condition, label: stored.node, seed: seed)
                items.append(EvaluationSuiteItem(suite: .lesionCondition, datasetID: dataset, item: Self.stamped(item)))
            }
        }
        for (dataset, cases) in Dictionary(grouping: ood, by: \.datasetID).sorted(by: { $0.key < $1.key }) {
            let vocabulary = Array(Set(cases.compactMap(\.node))).sorted()
            items += take(.ood, dataset: dataset, from: cases, seed: seed, limit: limit, skipped: &skipped) { c in
                try builder.oodItem(for: c, vocabulary: vocabulary, seed: seed)
            }
        }
        return items
    }

    /// Builds items for the ranked cases until `limit` succeed; cases without a diagnosis
    /// node and cases the kind does not apply to are tallied and passed over. Answer
    /// positions are balanced in rank order, so every limit's selection is balanced too.
    private func take(_ suite: EvaluationSuite, dataset: String, from cases: [StoredCase], seed: UInt64, limit: Int,
                      skipped: inout SkipTally,
                      make: (QuestionCase) throws -> QuestionItem) -> [EvaluationSuiteItem] {
        var out: [EvaluationSuiteItem] = []
        for stored in rank(cases, suite: suite, seed: seed) {
            if limit > 0 && out.count >= limit { break }
            guard let question = Self.questionCase(stored) else {
                skipped.add("\(suite.rawValue): case has no diagnosis node")
                continue
            }
            do {
                let item = try make(question).placingAnswer(at: out.count % QuestionBuilder.letters.count)
                out.append(EvaluationSuiteItem(suite: suite, datasetID: dataset, item: Self.stamped(item)))
            } catch let error as QuestionBuildError {
                skipped.add("\(suite.rawValue): \(error.code.rawValue)")
            } catch {
                skipped.add("\(suite.rawValue): \(error)")
            }
        }
        return out
    }

    private func rank(_ cases: [StoredCase], suite: EvaluationSuite, seed: UInt64) -> [StoredCase] {
        cases.map { (EvaluationSelection.rank(seed: seed, suite: suite, caseID: $0.id), $0) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1.id < $1.1.id }
            .map(\.1)
    }

    /// The item with the image folded into its id (see `EvaluationSuiteItem.id`).
    static func stamped(_ item: QuestionItem) -> QuestionItem {
        var item = item
        item.id += "-" + item.imageSHA.prefix(12)
        return item
    }

    static func questionCase(_ stored: StoredCase) -> QuestionCase? {
        stored.node.map { QuestionCase(caseID: stored.id, dataset: stored.datasetID, label: $0, imageSHA: stored.imageSHA256) }
    }
}
