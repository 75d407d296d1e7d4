/// The shapes of the versioned knowledge files (taxonomy, DDx graph, diagnostic rules,
/// dataset label maps), decoded from JSON and checked by `KnowledgeValidator`.

public struct TaxonomyFile: Codable, Sendable, Equatable {
    public var version: Int
    public var nodes: [TaxonomyNode]

    public init(version: Int, nodes: [TaxonomyNode]) {
        self.version = version
        self.nodes = nodes
    }
}

public struct DDxGraphFile: Codable, Sendable, Equatable {
    public var version: Int
    public var edges: [DDxEdge]

    public init(version: Int, edges: [DDxEdge]) {
        self.version = version
        self.edges = edges
    }
}

/// A textbook-style rule r for one diagnosis (METHOD 2.3): the sentence naming the evidence
/// that indicates it, and the visual hallmarks the image synthesiser draws for it.
public struct DiagnosticRule: Codable, Sendable, Equatable {
    public var node: NodeID
    /// "The presence of X and Y indicates Z."
    public var text: String
    /// Clinical context that no picture shows (age, site, history), used in rationales.
    public var clinicalClue: String?
    public var hallmarks: LesionAppearance

    public init(node: NodeID, text: String, clinicalClue: String? = nil, hallmarks: LesionAppearance) {
        self.node = node
        self.text = text
        self.clinicalClue = clinicalClue
        self.hallmarks = hallmarks
    }

    enum CodingKeys: String, CodingKey {
        case node, text, hallmarks
        case clinicalClue = "clinical_clue"
    }
}

public struct DiagnosticRulesFile: Codable, Sendable, Equatable {
    public var version: Int
    public var rules: [DiagnosticRule]

    public init(version: Int, rules: [DiagnosticRule]) {
        self.version = version
        self.rules = rules
    }
}

/// Whether a dataset trains the policy or only tests it out of distribution.
public enum DatasetRole: String, Codable, Sendable {
    case training
    case outOfDistribution = "ood"
}

/// One label string of a dataset and what it means in the taxonomy: a node, or only a
/// condition (ISIC 2016's "benign"), or nothing, in which case `note` says why such
/// images are left out or how they are resolved instead.
public struct LabelMapEntry: Codable, Sendable, Equatable {
    public var code: String
    public var node: NodeID?
    public var condition: LesionCondition?
    public var note: String?

    public init(code: String, node: NodeID?, condition: LesionCondition? = nil, note: String? = nil) {
        self.code = code
        self.node = node
        self.condition = condition
        self.note = note
    }
}

/// One column (level) of a dataset's labels, e.g. DERM12345's `super_class` or `label`.
public struct LabelLevel: Codable, Sendable, Equatable {
    public var name: String
    /// How the code is read from the dataset's files, when that is not obvious.
    public var note: String?
    public var entries: [LabelMapEntry]

    public init(name: String, note: String? = nil, entries: [LabelMapEntry]) {
        self.name = name
        self.note = note
        self.entries = entries
    }
}

/// The label vocabulary of one dataset mapped onto the taxonomy.
public struct DatasetLabelMap: Codable, Sendable, Equatable {
    public var dataset: String
    public var role: DatasetRole
    public var levels: [LabelLevel]

    public init(dataset: String, role: DatasetRole, levels: [LabelLevel]) {
        self.dataset = dataset
        self.role = role
        self.levels = levels
    }

    /// The entry for a label, matched exactly first and then ignoring case and spacing.
    /// With no level given, the finest (last) level that knows the label answers.
    public func entry(for code: String, level: String? = nil) -> LabelMapEntry? {
        let candidates = level.map { name in levels.filter { $0.name == name } } ?? levels.reversed()
        for level in candidates {
            if let exact = level.entries.first(where: { $0.code == code }) { return exact }
        }
        let key = TextNormalizer.key(code)
        for level in candidates {
            if let loose = level.entries.first(where: { TextNormalizer.key($0.code) == key }) { return loose }
        }
        return nil
    }

    /// The entry of a level whose code appears, as whole words, inside a longer text (a
    /// DermNet file-name stem such as "nodular basal cell carcinoma face"); the longest
    /// such code wins. Nil when none appears or the level does not exist.
    public func entry(containedIn text: String, level: String) -> LabelMapEntry? {
        guard let level = levels.first(where: { $0.name == level }) else { return nil }
        let haystack = " " + TextNormalizer.key(text) + " "
        return level.entries
            .map { ($0, TextNormalizer.key($0.code)) }
            .filter { !$0.1.isEmpty && haystack.contains(" " + $0.1 + " ") }
            .max { $0.1.count < $1.1.count }?.0
    }

    /// Every node some label of this dataset maps to.
    public var nodes: Set<NodeID> { Set(levels.flatMap { $0.entries.compactMap(\.node) }) }
}

public struct LabelMapsFile: Codable, Sendable, Equatable {
    public var version: Int
    public var datasets: [DatasetLabelMap]

    public init(version: Int, datasets: [DatasetLabelMap]) {
        self.version = version
        self.datasets = datasets
    }
}
