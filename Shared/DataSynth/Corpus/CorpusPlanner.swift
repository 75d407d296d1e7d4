import Domain

/// Plans the synthetic corpus from the knowledge: which diagnoses each dataset's labels
/// stand for, how many lesions and images each label gets, the appearance of every lesion,
/// the splits and the textbook rationales. Pure and deterministic for a seed and scale.
public enum CorpusPlanner {
    /// Lesions every label of a dataset gets at least.
    static let minimumLesionsPerLabel = 2
    /// Split pattern over lesions: three train, one validation, one test (6:2:2).
    static let splitPattern: [CorpusSplit] = [.train, .val, .train, .test, .train]

    public static func plan(knowledge: KnowledgeBase, seed: UInt64, scale: CorpusScale,
                            design: [SyntheticDatasetSpec] = SyntheticCorpusDesign.datasets) throws(CorpusPlanError) -> CorpusPlan {
        let helper = KnowledgeView(knowledge)
        // The vocabulary of every labelled dataset, each label with the diagnoses it may show.
        var vocabularies: [String: [LabelChoice]] = [:]
        for spec in design where spec.role != .textbook {
            vocabularies[spec.id] = try vocabulary(of: spec, helper: helper)
        }
        var used = Set<NodeID>()
        for choices in vocabularies.values { for choice in choices { used.formUnion(choice.diagnoses) } }
        let usedDiagnoses = knowledge.taxonomy.nodes.map(\.id).filter { used.contains($0) }

        var datasets: [SyntheticDatasetPlan] = []
        for spec in design {
            let cases: [SyntheticCase]
            if spec.role == .textbook {
                cases = textbook(spec: spec, diagnoses: usedDiagnoses, seed: seed, scale: scale, helper: helper)
            } else {
                cases = labelled(spec: spec, choices: vocabularies[spec.id] ?? [], seed: seed, scale: scale, helper: helper)
            }
            datasets.append(SyntheticDatasetPlan(spec: spec, cases: cases))
        }
        return CorpusPlan(seed: seed, scale: scale, datasets: datasets)
    }

    // MARK: vocabularies

    /// One label of a dataset and the finest diagnoses (with rules) its images are drawn from.
    struct LabelChoice {
        var code: String
        var level: String
        var node: NodeID?
        var condition: LesionCondition
        var diagnoses: [NodeID]
        var otherLevels: [String: String]
        var weight: Double
    }

    static func vocabulary(of spec: SyntheticDatasetSpec, helper: KnowledgeView) throws(CorpusPlanError) -> [LabelChoice] {
        guard let mapName = spec.labelMap, let levelName = spec.labelLevel else {
            throw CorpusPlanError("dataset \(spec.id): a labelled dataset needs a label map and a level")
        }
        guard let map = helper.knowledge.labelMap(for: mapName) else {
            throw CorpusPlanError("dataset \(spec.id): the knowledge has no label map named '\(mapName)'")
        }
        guard let levelIndex = map.levels.firstIndex(where: { $0.name == levelName }) else {
            throw CorpusPlanError("dataset \(spec.id): label map '\(mapName)' has no level '\(levelName)' (levels: \(map.levels.map(\.name).joined(separator: ", ")))")
        }
        let coarserLevels = map.levels[..<levelIndex]
        let mapNodes = map.nodes.sorted()
        var choices: [LabelChoice] = []
        for entry in map.levels[levelIndex].entries where !spec.excludedCodes.contains(entry.code) {
            let diagnoses: [NodeID]
            let condition: LesionCondition
            if let node = entry.node {
                guard let resolved = helper.knowledge.taxonomy.condition(of: node) else {
                    throw CorpusPlanError("dataset \(spec.id): label '\(entry.code)' maps to '\(node)', which the taxonomy does not know")
                }
                condition = resolved
                diagnoses = helper.drawable(under: node)
            } else if let only = entry.condition {
                condition = only
                diagnoses = helper.confusable(with: mapNodes, condition: only)
            } else {
                continue // a label the knowledge leaves out (scar, miscellaneous, unknown)
            }
            guard !diagnoses.isEmpty else {
                throw CorpusPlanError("dataset \(spec.id): label '\(entry.code)' has no diagnosis with a rule to draw")
            }
            var other: [String: String] = [:]
            if let node = entry.node {
                for level in coarserLevels {
                    if let code = helper.coarserCode(in: level, for: node) { other[level.name] = code }
                }
            }
            let hash = StableHash.fnv1a64(spec.id + "|" + entry.code)
            let weight = 0.5 + 1.5 * Double(hash >> 11) / Double(1 << 53)
            choices.append(LabelChoice(code: entry.code, level: levelName, node: entry.node, condition: condition,
                                       diagnoses: diagnoses, otherLevels: other, weight: weight))
        }
        guard !choices.isEmpty else {
            throw CorpusPlanError("dataset \(spec.id): level '\(levelName)' of '\(mapName)' has no usable label")
        }
        return choices
    }

    // MARK: textbook

    static func textbook(spec: SyntheticDatasetSpec, diagnoses: [NodeID], seed: UInt64, scale: CorpusScale,
                         helper: KnowledgeView) -> [SyntheticCase] {
        var cases: [SyntheticCase] = []
        for diagnosis in diagnoses {
            let rule = helper.knowledge.rules[diagnosis]!
            for k in 0..<scale.textbookPerDiagnosis {
                var rng = SplitMix64(seed: seed, stream: "corpus.\(spec.id).\(diagnosis).\(k)")
                let appearance = AppearanceSampler.concrete(rule.hallmarks, rng: &rng)
                let style = spec.styles[rng.nextInt(below: spec.styles.count)]
                let tone = spec.skinTones[rng.nextInt(below: spec.skinTones.count)]
                let lesionSeed = rng.next(), imageSeed = rng.next()
                cases.append(SyntheticCase(
                    id: "", datasetID: spec.id, labelCode: diagnosis, labelLevel: "taxonomy", node: diagnosis,
                    condition: helper.knowledge.taxonomy.condition(of: diagnosis) ?? .benign,
                    drawnDiagnosis: diagnosis, split: .train, groupKey: nil,
                    rationale: AppearanceSampler.rationale(for: appearance, rule: rule,
                                                           name: helper.knowledge.taxonomy.name(of: diagnosis)),
                    appearance: appearance, style: style, skinTone: tone, domainShift: spec.domainShift,
                    lesionSeed: lesionSeed, imageSeed: imageSeed, borrowedFeature: nil, otherLevels: [:]))
            }
        }
        return numbered(cases, dataset: spec.id)
    }

    // MARK: labelled datasets

    static func labelled(spec: SyntheticDatasetSpec, choices: [LabelChoice], seed: UInt64, scale: CorpusScale,
                         helper: KnowledgeView) -> [SyntheticCase] {
        let base = spec.role == .ood ? scale.oodLesions : scale.trainingLesions
        let total = Double(base) * spec.sizeWeight
        let weightSum = choices.reduce(0) { $0 + $1.weight }
        var splitRNG = SplitMix64(seed: seed, stream: "corpus.\(spec.id).splits")
        var position = splitRNG.nextInt(below: splitPattern.count)
        var cases: [SyntheticCase] = []
        var lesionNumber = 0
        for choice in choices {
            let lesions = max(minimumLesionsPerLabel, Int((total * choice.weight / weightSum).rounded()))
            for n in 0..<lesions {
                var rng = SplitMix64(seed: seed, stream: "corpus.\(spec.id).\(choice.code).\(n)")
                let diagnosis = choice.diagnoses[rng.nextInt(below: choice.diagnoses.count)]
                var appearance = AppearanceSampler.concrete(helper.knowledge.rules[diagnosis]!.hallmarks, rng: &rng)
                var borrowed: String?
                if rng.nextDouble() < spec.atypicalRate {
                    borrowed = AppearanceSampler.borrowFeature(into: &appearance, diagnosis: diagnosis, helper: helper, rng: &rng)
                }
                let tone = spec.skinTones[rng.nextInt(below: spec.skinTones.count)]
                let images = rng.nextInt(in: spec.imagesPerLesion)
                let lesionSeed = rng.next()
                let split: CorpusSplit = spec.role == .ood ? .test : splitPattern[position % splitPattern.count]
                position += 1
                lesionNumber += 1
                let group = spec.isGrouped ? "\(spec.id)-lesion-\(pad(lesionNumber))" : nil
                for image in 0..<images {
                    let style = spec.isGrouped && spec.styles.count > 1
                        ? spec.styles[image % spec.styles.count]
                        : spec.styles[rng.nextInt(below: spec.styles.count)]
                    cases.append(SyntheticCase(
                        id: "", datasetID: spec.id, labelCode: choice.code, labelLevel: choice.level, node: choice.node,
                        condition: choice.condition, drawnDiagnosis: diagnosis, split: split, groupKey: group,
                        rationale: nil, appearance: appearance, style: style, skinTone: tone, domainShift: spec.domainShift,
                        lesionSeed: lesionSeed, imageSeed: rng.next(), borrowedFeature: borrowed,
                        otherLevels: choice.otherLevels))
                }
            }
        }
        return numbered(cases, dataset: spec.id)
    }

    static func numbered(_ cases: [SyntheticCase], dataset: String) -> [SyntheticCase] {
        cases.enumerated().map { index, item in
            var item = item
            item.id = "\(dataset)-\(pad(index + 1))"
            return item
        }
    }

    static func pad(_ number: Int) -> String {
        let digits = String(number)
        return digits.count >= 5 ? digits : String(repeating: "0", count: 5 - digits.count) + digits
    }
}

/// Taxonomy questions the planner asks, answered once.
struct KnowledgeView {
    let knowledge: KnowledgeBase

    init(_ knowledge: KnowledgeBase) { self.knowledge = knowledge }

    /// The leaves at or under a node that have a rule (the node itself when it is a leaf).
    func drawable(under node: NodeID) -> [NodeID] {
        let taxonomy = knowledge.taxonomy
        let leaves = taxonomy.isLeaf(node) ? [node] : taxonomy.descendants(of: node).filter { taxonomy.isLeaf($0) }
        return leaves.filter { knowledge.rules[$0] != nil }
    }

    /// Diagnoses of a condition that are confusable with any of the given nodes (DDx
    /// neighbours of them or of their parents, down to drawable leaves); all drawable
    /// leaves of the condition when none is.
    func confusable(with nodes: [NodeID], condition: LesionCondition) -> [NodeID] {
        var found: [NodeID] = []
        for node in nodes {
            var neighbours = knowledge.graph.neighbours(of: node)
            if neighbours.isEmpty, let parent = knowledge.taxonomy.parent(of: node) {
                neighbours = knowledge.graph.neighbours(of: parent)
            }
            for neighbour in neighbours {
                for leaf in drawable(under: neighbour)
                where knowledge.taxonomy.condition(of: leaf) == condition && !found.contains(leaf) {
                    found.append(leaf)
                }
            }
        }
        if !found.isEmpty { return found }
        return knowledge.taxonomy.leaves.filter {
            knowledge.taxonomy.condition(of: $0) == condition && knowledge.rules[$0] != nil
        }
    }

    /// The code of a coarser level whose node is the given node or its nearest ancestor.
    func coarserCode(in level: LabelLevel, for node: NodeID) -> String? {
        let taxonomy = knowledge.taxonomy
        return level.entries
            .compactMap { entry -> (String, Int)? in
                guard let target = entry.node, target == node || taxonomy.isAncestor(target, of: node) else { return nil }
                return (entry.code, taxonomy.depth(of: target) ?? 0)
            }
            .max { $0.1 < $1.1 }?.0
    }

    /// Drawable leaves confusable with a diagnosis (its DDx neighbours, else its parent's).
    func neighbours(of diagnosis: NodeID) -> [NodeID] {
        var neighbours = knowledge.graph.neighbours(of: diagnosis)
        if neighbours.isEmpty, let parent = knowledge.taxonomy.parent(of: diagnosis) {
            neighbours = knowledge.graph.neighbours(of: parent)
        }
        var leaves: [NodeID] = []
        for neighbour in neighbours {
            for leaf in drawable(under: neighbour) where leaf != diagnosis && !leaves.contains(leaf) { leaves.append(leaf) }
        }
        return leaves
    }
}
