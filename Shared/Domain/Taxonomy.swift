/// A taxonomy node id: a stable lower-case slug such as `superficial_spreading_melanoma`.
public typealias NodeID = String

/// One diagnosis of the taxonomy T (METHOD 2.1), as stored in the knowledge files.
public struct TaxonomyNode: Codable, Sendable, Equatable, Hashable {
    public var id: NodeID
    public var name: String
    /// Nil only for the root.
    public var parent: NodeID?
    /// Required on leaves; a family without one takes the condition most children share.
    public var condition: LesionCondition?
    /// Synonyms and the spellings datasets use.
    public var aliases: [String]

    public init(id: NodeID, name: String, parent: NodeID?, condition: LesionCondition?, aliases: [String] = []) {
        self.id = id
        self.name = name
        self.parent = parent
        self.condition = condition
        self.aliases = aliases
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(NodeID.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        parent = try container.decodeIfPresent(NodeID.self, forKey: .parent)
        condition = try container.decodeIfPresent(LesionCondition.self, forKey: .condition)
        aliases = try container.decodeIfPresent([String].self, forKey: .aliases) ?? []
    }
}

/// The diagnosis tree. Depth 0 is the root; depth 1 holds the coarsest families; the
/// ground-truth path P = [l_1..l_L] of a label runs from its depth-1 family down to the
/// label itself and never includes the root (METHOD 2.1, 4).
public struct Taxonomy: Sendable {
    public let root: NodeID
    /// Nodes in file order (children keep this order, which makes every listing stable).
    public let nodes: [TaxonomyNode]
    private let byID: [NodeID: TaxonomyNode]
    private let childrenByID: [NodeID: [NodeID]]
    private let conditionByID: [NodeID: LesionCondition]
    private let lookupKeys: [String: NodeID]

    /// Builds the tree, rejecting unknown parents, cycles, duplicate ids or aliases and a
    /// missing or repeated root (the same structural checks `KnowledgeValidator` makes).
    public init(nodes: [TaxonomyNode]) throws(KnowledgeValidationError) {
        let issues = KnowledgeValidator.taxonomyIssues(nodes)
        guard issues.isEmpty else { throw KnowledgeValidationError(issues: issues) }
        self.nodes = nodes
        var byID: [NodeID: TaxonomyNode] = [:]
        var children: [NodeID: [NodeID]] = [:]
        var root: NodeID = ""
        for node in nodes {
            byID[node.id] = node
            if let parent = node.parent { children[parent, default: []].append(node.id) } else { root = node.id }
        }
        self.root = root
        self.byID = byID
        self.childrenByID = children
        var keys: [String: NodeID] = [:]
        for node in nodes {
            for text in [node.id, node.name] + node.aliases {
                let key = TextNormalizer.key(text)
                if keys[key] == nil { keys[key] = node.id }
            }
        }
        self.lookupKeys = keys
        // Conditions: explicit where given, otherwise the majority of the children,
        // resolved bottom-up (ties broken by LesionCondition.canonicalOrder).
        var conditions: [NodeID: LesionCondition] = [:]
        func resolve(_ id: NodeID) -> LesionCondition {
            if let known = conditions[id] { return known }
            let node = byID[id]!
            let kids = children[id] ?? []
            let childConditions = kids.map(resolve)
            let value = node.condition ?? Taxonomy.majority(childConditions) ?? .benign
            conditions[id] = value
            return value
        }
        for node in nodes { _ = resolve(node.id) }
        self.conditionByID = conditions
    }

    /// The condition most of the given conditions share; nil for none.
    public static func majority(_ conditions: [LesionCondition]) -> LesionCondition? {
        guard !conditions.isEmpty else { return nil }
        var counts: [LesionCondition: Int] = [:]
        for c in conditions { counts[c, default: 0] += 1 }
        return LesionCondition.canonicalOrder.max { (counts[$0] ?? 0) < (counts[$1] ?? 0) || ((counts[$0] ?? 0) == (counts[$1] ?? 0) && $0 > $1) }
    }

    public var count: Int { nodes.count }
    public func contains(_ id: NodeID) -> Bool { byID[id] != nil }
    public func node(_ id: NodeID) -> TaxonomyNode? { byID[id] }
    public func name(of id: NodeID) -> String { byID[id]?.name ?? id }

    /// Finds a node by id, name or alias, ignoring case, spacing, punctuation and
    /// apostrophes ("Bowen's disease", "bowen_disease", "BOWEN DISEASE").
    public func lookup(_ text: String) -> TaxonomyNode? {
        let key = TextNormalizer.key(text)
        guard !key.isEmpty, let id = lookupKeys[key] else { return nil }
        return byID[id]
    }

    public func parent(of id: NodeID) -> NodeID? { byID[id]?.parent }
    public func children(of id: NodeID) -> [NodeID] { childrenByID[id] ?? [] }
    public func isLeaf(_ id: NodeID) -> Bool { contains(id) && children(of: id).isEmpty }

    /// Nodes sharing this node's parent, excluding itself (the root has none).
    public func siblings(of id: NodeID) -> [NodeID] {
        guard let parent = parent(of: id) else { return [] }
        return children(of: parent).filter { $0 != id }
    }

    /// Depth below the root (root 0, coarsest families 1); nil for an unknown id.
    public func depth(of id: NodeID) -> Int? {
        guard contains(id) else { return nil }
        var depth = 0
        var current = id
        while let p = parent(of: current) {
            depth += 1
            current = p
        }
        return depth
    }

    /// The ancestors of a node below the root, coarsest first (the path without the node).
    public func ancestors(of id: NodeID) -> [NodeID] {
        Array(path(to: id).dropLast())
    }

    /// The ground-truth path P = [l_1..l_L]: depth-1 family first, the node itself last,
    /// the root left out. Empty for the root and for unknown ids.
    public func path(to id: NodeID) -> [NodeID] {
        guard contains(id), id != root else { return [] }
        var path: [NodeID] = [id]
        var current = id
        while let p = parent(of: current), p != root {
            path.append(p)
            current = p
        }
        return path.reversed()
    }

    /// Every node strictly below the given one, depth-first in file order.
    public func descendants(of id: NodeID) -> [NodeID] {
        var result: [NodeID] = []
        var stack = children(of: id).reversed() as [NodeID]
        while let next = stack.popLast() {
            result.append(next)
            stack.append(contentsOf: children(of: next).reversed())
        }
        return result
    }

    /// True when `ancestor` lies strictly above `id`.
    public func isAncestor(_ ancestor: NodeID, of id: NodeID) -> Bool {
        var current = id
        while let p = parent(of: current) {
            if p == ancestor { return true }
            current = p
        }
        return false
    }

    /// malig(node): explicit on the node, or the majority of its children (METHOD 2.1).
    public func condition(of id: NodeID) -> LesionCondition? { conditionByID[id] }

    public var leaves: [NodeID] { nodes.map(\.id).filter { isLeaf($0) } }
    /// Inner nodes other than the root.
    public var families: [NodeID] { nodes.map(\.id).filter { $0 != root && !isLeaf($0) } }
    public var nonRootIDs: [NodeID] { nodes.map(\.id).filter { $0 != root } }

    /// The taxonomy information t_f = (path_T(d_f), malig(d_f)) of METHOD 3.1, with the
    /// siblings used for label augmentation.
    public func completion(for id: NodeID) -> HierarchicalCompletion? {
        guard contains(id), id != root, let condition = condition(of: id) else { return nil }
        let path = path(to: id)
        return HierarchicalCompletion(
            diagnosis: id, diagnosisName: name(of: id),
            path: path, pathNames: path.map { name(of: $0) },
            siblings: siblings(of: id), siblingNames: siblings(of: id).map { name(of: $0) },
            condition: condition)
    }
}

/// A diagnosis with its families, its siblings and its condition (METHOD 3.1).
public struct HierarchicalCompletion: Codable, Sendable, Equatable {
    public var diagnosis: NodeID
    public var diagnosisName: String
    public var path: [NodeID]
    public var pathNames: [String]
    public var siblings: [NodeID]
    public var siblingNames: [String]
    public var condition: LesionCondition

    /// The families of the diagnosis, coarsest first, without the diagnosis itself.
    public var familyNames: [String] { Array(pathNames.dropLast()) }

    /// One line for the `<diagnosis>` tag: the diagnosis, its families and its condition.
    public var diagnosisLine: String {
        let families = familyNames.isEmpty ? "none above it" : familyNames.joined(separator: " > ")
        return "\(diagnosisName); families: \(families); condition: \(condition.text)"
    }

    /// Sentences placing the diagnosis in the taxonomy, for the end of a rationale.
    public var text: String {
        var sentences: [String] = []
        if familyNames.isEmpty {
            sentences.append("\(diagnosisName) is itself a top-level family of the taxonomy.")
        } else {
            sentences.append("In the taxonomy, \(diagnosisName) sits under \(familyNames.reversed().joined(separator: ", under ")).")
        }
        if !siblingNames.isEmpty {
            sentences.append("Related diagnoses at the same level: \(VisualHallmark.list(siblingNames)).")
        }
        sentences.append("Its lesion condition is \(condition.text).")
        return sentences.joined(separator: " ")
    }
}
