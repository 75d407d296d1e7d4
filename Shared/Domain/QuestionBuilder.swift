/// A case as the question builder sees it: an image with its label in the taxonomy.
public struct QuestionCase: Codable, Sendable, Hashable {
    public var caseID: String
    public var dataset: String
    public var label: NodeID
    public var imageSHA: String

    public init(caseID: String, dataset: String, label: NodeID, imageSHA: String) {
        self.caseID = caseID
        self.dataset = dataset
        self.label = label
        self.imageSHA = imageSHA
    }
}

public struct QuestionBuilderConfig: Sendable, Equatable {
    public var normalisation: GranularityNormalisation
    /// Upper bound of k, the number of options taken from the ground-truth path (1 <= k).
    public var maxCorrectOptions: Int
    /// Chance that a distractor slot is filled from the whole taxonomy instead of the
    /// path terms of the dataset's other items.
    public var globalDistractorShare: Double

    public init(normalisation: GranularityNormalisation = .finestOption, maxCorrectOptions: Int = 3,
                globalDistractorShare: Double = 0.25) {
        self.normalisation = normalisation
        self.maxCorrectOptions = max(1, min(3, maxCorrectOptions))
        self.globalDistractorShare = globalDistractorShare
    }
}

public struct QuestionBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable { case unknownLabel = "unknown_label", notApplicable = "not_applicable" }
    public var code: Code
    public var caseID: String
    public var message: String

    public var description: String { "case \(caseID): \(message)" }
}

/// The path terms of every item of each dataset: where same-dataset distractors come from.
public struct DatasetPathTerms: Sendable {
    public let terms: [String: [NodeID]]

    public init(cases: [QuestionCase], taxonomy: Taxonomy) {
        var sets: [String: Set<NodeID>] = [:]
        for item in cases {
            sets[item.dataset, default: []].formUnion(taxonomy.path(to: item.label))
        }
        terms = sets.mapValues { $0.sorted() }
    }

    public func terms(of dataset: String) -> [NodeID] { terms[dataset] ?? [] }
}

/// Builds the 4-option questions of METHOD section 4. Every choice is drawn from a
/// SplitMix64 stream derived from (seed, item kind, case id), so the same inputs always
/// give the same item.
public struct QuestionBuilder: Sendable {
    public let taxonomy: Taxonomy
    public let graph: DDxGraph
    public let config: QuestionBuilderConfig
    public static let letters = ["A", "B", "C", "D"]
    public static let optionCount = 4

    public init(taxonomy: Taxonomy, graph: DDxGraph, config: QuestionBuilderConfig = QuestionBuilderConfig()) {
        self.taxonomy = taxonomy
        self.graph = graph
        self.config = config
    }

    // MARK: - Items

    /// An RL prompt: k correct options (1 <= k <= 3) sampled from P, the rest distractors from
    /// the dataset's other path terms and from the taxonomy. `offeringDiagnosis`: the label
    /// itself is always one of the k, as in evaluation's disease items (then a coarser option
    /// is only ever partly right).
    public func rlPrompt(for item: QuestionCase, pathTerms: DatasetPathTerms, seed: UInt64,
                         offeringDiagnosis: Bool = false) throws(QuestionBuildError) -> QuestionItem {
        try pathSampledItem(item, pathTerms: pathTerms, seed: seed, purpose: .reinforcement, forceLabel: offeringDiagnosis)
    }

    /// An in-distribution evaluation item: like an RL prompt, but the label itself is always
    /// an option, so the correct (finest) option is the true diagnosis.
    public func diseaseItem(for item: QuestionCase, pathTerms: DatasetPathTerms, seed: UInt64) throws(QuestionBuildError) -> QuestionItem {
        try pathSampledItem(item, pathTerms: pathTerms, seed: seed, purpose: .evaluation, forceLabel: true)
    }

    /// A lesion-condition item: A benign, B malignant, C precancerous in situ.
    public func conditionItem(for item: QuestionCase, seed: UInt64) throws(QuestionBuildError) -> QuestionItem {
        guard let condition = taxonomy.condition(of: item.label), item.label != taxonomy.root else {
            throw unknownLabel(item)
        }
        return conditionItem(caseID: item.caseID, dataset: item.dataset, imageSHA: item.imageSHA,
                             condition: condition, label: item.label, seed: seed)
    }

    /// A lesion-condition item for a case known only by its condition (ISIC 2016 "benign").
    public func conditionItem(caseID: String, dataset: String, imageSHA: String, condition: LesionCondition,
                              label: NodeID? = nil, seed: UInt64) -> QuestionItem {
        let options = LesionCondition.canonicalOrder.enumerated().map { index, value in
            QuestionOption(letter: Self.letters[index], text: value.text, node: nil, condition: value,
                           pathIndex: value == condition ? 1 : nil,
                           granularityReward: value == condition ? GranularityReward.maximum : 0)
        }
        let kind = QuestionKind.lesionCondition
        let question = PromptText.stem(for: kind)
        return QuestionItem(
            id: Self.itemID(kind: kind, caseID: caseID, seed: seed), kind: kind, purpose: .evaluation,
            caseID: caseID, dataset: dataset, imageSHA: imageSHA, question: question, options: options,
            prompt: PromptText.prompt(question: question, options: options, format: .letterOnly),
            correctLetter: options.first { $0.condition == condition }!.letter,
            groundTruth: label, groundTruthCondition: condition, path: label.map { taxonomy.path(to: $0) } ?? [],
            answerFormat: .letterOnly, normalisation: config.normalisation, seed: seed)
    }

    /// A hierarchical item: the label and its ancestors are the options; the answer is the
    /// label. When the path has fewer than four nodes the remaining slots hold siblings of
    /// the label (same level, off the path), then other taxonomy nodes.
    public func hierarchicalItem(for item: QuestionCase, seed: UInt64) throws(QuestionBuildError) -> QuestionItem {
        let path = try labelPath(item)
        guard path.count >= 2 else {
            throw QuestionBuildError(code: .notApplicable, caseID: item.caseID,
                                     message: "label '\(item.label)' has no ancestor below the root, so no hierarchical question exists")
        }
        var rng = SplitMix64(seed: seed, stream: "hierarchical|\(item.caseID)")
        let ancestors = rng.shuffled(Array(path.dropLast())).prefix(Self.optionCount - 1)
        var chosen = [item.label] + ancestors
        let excluded = excludedNodes(for: item.label)
        chosen += fill(Self.optionCount - chosen.count, tiers: [taxonomy.siblings(of: item.label)],
                       excluding: excluded.union(chosen), rng: &rng)
        return finish(item, kind: .hierarchical, purpose: .evaluation, nodes: chosen, seed: seed, rng: &rng)
    }

    /// A DDx item: distractors are graph neighbours of the label; when fewer than three
    /// exist, the taxonomy rules of ResolveDDXNeighbor supply more (children of the
    /// neighbours, then the parent's neighbours and their children), then the taxonomy.
    /// With `caseLabels`, candidates that have cases are preferred within each tier.
    public func ddxItem(for item: QuestionCase, caseLabels: Set<NodeID>? = nil, seed: UInt64) throws(QuestionBuildError) -> QuestionItem {
        _ = try labelPath(item)
        var rng = SplitMix64(seed: seed, stream: "ddx|\(item.caseID)")
        let neighbours = graph.neighbours(of: item.label)
        let parentNeighbours = taxonomy.parent(of: item.label).map { graph.neighbours(of: $0) } ?? []
        var tiers = [neighbours, neighbours.flatMap { taxonomy.children(of: $0) },
                     parentNeighbours, parentNeighbours.flatMap { taxonomy.children(of: $0) }]
        if let backed = caseLabels {
            tiers = tiers.flatMap { tier in [tier.filter { backed.contains($0) }, tier.filter { !backed.contains($0) }] }
        }
        let distractors = fill(Self.optionCount - 1, tiers: tiers, excluding: excludedNodes(for: item.label), rng: &rng)
        return finish(item, kind: .ddx, purpose: .evaluation, nodes: [item.label] + distractors, seed: seed, rng: &rng)
    }

    /// An OOD item: distractors come from the OOD dataset's own label vocabulary (the nodes
    /// its label map names), then from the taxonomy.
    public func oodItem(for item: QuestionCase, vocabulary: [NodeID], seed: UInt64) throws(QuestionBuildError) -> QuestionItem {
        _ = try labelPath(item)
        var rng = SplitMix64(seed: seed, stream: "ood|\(item.caseID)")
        let distractors = fill(Self.optionCount - 1, tiers: [Array(Set(vocabulary)).sorted()],
                               excluding: excludedNodes(for: item.label), rng: &rng)
        return finish(item, kind: .ood, purpose: .evaluation, nodes: [item.label] + distractors, seed: seed, rng: &rng)
    }

    // MARK: - Shared steps

    private func pathSampledItem(_ item: QuestionCase, pathTerms: DatasetPathTerms, seed: UInt64,
                                 purpose: QuestionPurpose, forceLabel: Bool) throws(QuestionBuildError) -> QuestionItem {
        let path = try labelPath(item)
        var rng = SplitMix64(seed: seed, stream: "\(purpose.rawValue)|disease|\(item.caseID)")
        let k = rng.nextInt(in: 1...min(config.maxCorrectOptions, path.count))
        var correct: [NodeID]
        if forceLabel {
            correct = [item.label] + rng.shuffled(Array(path.dropLast())).prefix(k - 1)
        } else {
            correct = Array(rng.shuffled(path).prefix(k))
        }
        let excluded = excludedNodes(for: item.label).union(correct)
        let local = pathTerms.terms(of: item.dataset).filter { !excluded.contains($0) }
        let global = taxonomy.nonRootIDs.filter { !excluded.contains($0) }
        var distractors: [NodeID] = []
        for _ in 0..<(Self.optionCount - correct.count) {
            let useGlobal = rng.nextDouble() < config.globalDistractorShare
            let sources = useGlobal ? [global, local] : [local, global]
            for source in sources {
                let open = source.filter { !distractors.contains($0) }
                if let pick = rng.pick(open) {
                    distractors.append(pick)
                    break
                }
            }
        }
        return finish(item, kind: .disease, purpose: purpose, nodes: correct + distractors, seed: seed, rng: &rng)
    }

    /// Nodes that may never be distractors: the path itself (they are correct answers) and
    /// everything below the label (finer guesses the label cannot confirm or refute).
    private func excludedNodes(for label: NodeID) -> Set<NodeID> {
        Set(taxonomy.path(to: label)).union(taxonomy.descendants(of: label)).union([taxonomy.root])
    }

    /// Takes up to `count` nodes from the tiers in order (seeded shuffle within a tier),
    /// then from the whole taxonomy.
    private func fill(_ count: Int, tiers: [[NodeID]], excluding: Set<NodeID>, rng: inout SplitMix64) -> [NodeID] {
        var taken: [NodeID] = []
        var blocked = excluding
        for tier in tiers + [taxonomy.nonRootIDs] where taken.count < count {
            let open = Array(Set(tier).subtracting(blocked)).sorted()
            for node in rng.shuffled(open) where taken.count < count {
                taken.append(node)
                blocked.insert(node)
            }
        }
        return taken
    }

    private func finish(_ item: QuestionCase, kind: QuestionKind, purpose: QuestionPurpose, nodes: [NodeID],
                        seed: UInt64, rng: inout SplitMix64) -> QuestionItem {
        let path = taxonomy.path(to: item.label)
        let order = rng.shuffled(nodes)
        let rewards = GranularityReward.optionRewards(options: order, path: path, normalisation: config.normalisation)
        let options = order.enumerated().map { index, node in
            QuestionOption(letter: Self.letters[index], text: taxonomy.name(of: node), node: node,
                           condition: taxonomy.condition(of: node),
                           pathIndex: path.firstIndex(of: node).map { $0 + 1 }, granularityReward: rewards[index])
        }
        // The correct option is the finest option on P present in the question.
        let finest = options.filter { $0.pathIndex != nil }.max { $0.pathIndex! < $1.pathIndex! }!
        let format: AnswerFormat = .letterAndCondition
        let question = PromptText.stem(for: kind)
        return QuestionItem(
            id: Self.itemID(kind: kind, caseID: item.caseID, seed: seed, purpose: purpose), kind: kind, purpose: purpose,
            caseID: item.caseID, dataset: item.dataset, imageSHA: item.imageSHA, question: question, options: options,
            prompt: PromptText.prompt(question: question, options: options, format: format),
            correctLetter: finest.letter, groundTruth: item.label,
            groundTruthCondition: taxonomy.condition(of: item.label) ?? .benign, path: path,
            answerFormat: format, normalisation: config.normalisation, seed: seed)
    }

    private func labelPath(_ item: QuestionCase) throws(QuestionBuildError) -> [NodeID] {
        let path = taxonomy.path(to: item.label)
        guard !path.isEmpty else { throw unknownLabel(item) }
        return path
    }

    private func unknownLabel(_ item: QuestionCase) -> QuestionBuildError {
        QuestionBuildError(code: .unknownLabel, caseID: item.caseID,
                           message: "label '\(item.label)' is not a diagnosis of the taxonomy")
    }

    /// A stable id: the same case, kind and seed always give the same id.
    public static func itemID(kind: QuestionKind, caseID: String, seed: UInt64, purpose: QuestionPurpose = .evaluation) -> String {
        let digest = StableHash.fnv1a64("\(purpose.rawValue)|\(kind.rawValue)|\(caseID)|\(seed)")
        return "\(purpose.rawValue)-\(kind.rawValue)-" + String(digest, radix: 16)
    }
}
