/// One problem found in the knowledge files, naming the file and the offending item.
public struct KnowledgeIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        case emptyFile = "empty_file"
        case emptyField = "empty_field"
        case duplicateID = "duplicate_id"
        case duplicateAlias = "duplicate_alias"
        case unknownParent = "unknown_parent"
        case missingRoot = "missing_root"
        case multipleRoots = "multiple_roots"
        case cycle
        case leafWithoutCondition = "leaf_without_condition"
        case missingRule = "missing_rule"
        case duplicateRule = "duplicate_rule"
        case ruleForUnknownNode = "rule_for_unknown_node"
        case invalidHallmarks = "invalid_hallmarks"
        case edgeToUnknownNode = "edge_to_unknown_node"
        case selfLoop = "self_loop"
        case duplicateEdge = "duplicate_edge"
        case duplicateDataset = "duplicate_dataset"
        case duplicateLabel = "duplicate_label"
        case labelToUnknownNode = "label_to_unknown_node"
        case unmappedLabel = "unmapped_label"
        case conflictingCondition = "conflicting_condition"
    }

    public var kind: Kind
    public var file: String
    /// The item at fault: a node id, an edge "a -- b", a rule's node, "dataset/level/code".
    public var item: String
    public var message: String

    public init(_ kind: Kind, file: String, item: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.item = item
        self.message = message
    }

    public var description: String { "\(file): \(item): \(message)" }
}

/// The knowledge did not validate; every issue is listed.
public struct KnowledgeValidationError: Error, Sendable, CustomStringConvertible {
    public var issues: [KnowledgeIssue]

    public init(issues: [KnowledgeIssue]) {
        self.issues = issues
    }

    public var description: String {
        "knowledge is invalid (\(issues.count) problem\(issues.count == 1 ? "" : "s")):\n"
            + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Checks decoded knowledge files against each other before anything uses or stores them.
/// Pure: it inspects values only.
public enum KnowledgeValidator {
    public static let taxonomyFileName = "taxonomy.json"
    public static let ddxFileName = "ddx_graph.json"
    public static let rulesFileName = "diagnostic_rules.json"
    public static let labelMapsFileName = "label_maps.json"

    /// All problems of the four files together (empty when the knowledge is sound).
    public static func validate(taxonomy: TaxonomyFile, ddx: DDxGraphFile, rules: DiagnosticRulesFile,
                                labelMaps: LabelMapsFile) -> [KnowledgeIssue] {
        let nodeIDs = Set(taxonomy.nodes.map(\.id))
        return taxonomyIssues(taxonomy.nodes)
            + ruleIssues(rules.rules, nodes: taxonomy.nodes)
            + ddxIssues(ddx.edges, nodeIDs: nodeIDs)
            + labelMapIssues(labelMaps.datasets, nodes: taxonomy.nodes)
    }

    /// Structure of the tree: ids, names, parents, a single root, no cycles, unique
    /// aliases, conditions on leaves.
    public static func taxonomyIssues(_ nodes: [TaxonomyNode]) -> [KnowledgeIssue] {
        let file = taxonomyFileName
        var issues: [KnowledgeIssue] = []
        if nodes.isEmpty {
            return [KnowledgeIssue(.emptyFile, file: file, item: "nodes", "the taxonomy has no nodes")]
        }
        var seen: [NodeID: Int] = [:]
        for (index, node) in nodes.enumerated() {
            if node.id.isEmpty { issues.append(KnowledgeIssue(.emptyField, file: file, item: "node #\(index)", "id is empty")) }
            if node.name.isBlank { issues.append(KnowledgeIssue(.emptyField, file: file, item: node.id, "name is empty")) }
            if let first = seen[node.id] {
                issues.append(KnowledgeIssue(.duplicateID, file: file, item: node.id, "id also used by node #\(first)"))
            } else {
                seen[node.id] = index
            }
        }
        let ids = Set(nodes.map(\.id))
        var parents: [NodeID: NodeID] = [:]
        var hasChildren = Set<NodeID>()
        let roots = nodes.filter { $0.parent == nil }.map(\.id)
        for node in nodes {
            guard let parent = node.parent else { continue }
            if parent == node.id {
                issues.append(KnowledgeIssue(.cycle, file: file, item: node.id, "is its own parent"))
            } else if !ids.contains(parent) {
                issues.append(KnowledgeIssue(.unknownParent, file: file, item: node.id, "parent '\(parent)' is not a node"))
            }
            parents[node.id] = parent
            hasChildren.insert(parent)
        }
        if roots.isEmpty {
            issues.append(KnowledgeIssue(.missingRoot, file: file, item: "nodes", "no node is without a parent, so there is no root"))
        } else if roots.count > 1 {
            issues.append(KnowledgeIssue(.multipleRoots, file: file, item: roots.joined(separator: ", "),
                                         "only one node may lack a parent; found \(roots.count)"))
        }
        // Walk up from every node; a walk that revisits a node is a cycle.
        var reported = Set<NodeID>()
        for node in nodes where node.parent != node.id {
            var visited: Set<NodeID> = [node.id]
            var current = node.id
            while let parent = parents[current], ids.contains(parent) {
                if visited.contains(parent) {
                    if !reported.contains(parent) {
                        reported.formUnion(visited)
                        issues.append(KnowledgeIssue(.cycle, file: file, item: node.id,
                                                     "following parents from here loops back to '\(parent)'"))
                    }
                    break
                }
                visited.insert(parent)
                current = parent
            }
        }
        // Aliases (with ids and names) must not point at two different nodes.
        var owners: [String: NodeID] = [:]
        for node in nodes {
            let keys = Set(([node.id, node.name] + node.aliases).map(TextNormalizer.key)).filter { !$0.isEmpty }
            for key in keys.sorted() {
                if let owner = owners[key], owner != node.id {
                    issues.append(KnowledgeIssue(.duplicateAlias, file: file, item: node.id,
                                                 "name or alias '\(key)' already belongs to '\(owner)'"))
                } else {
                    owners[key] = node.id
                }
            }
        }
        for node in nodes where !hasChildren.contains(node.id) && node.condition == nil {
            issues.append(KnowledgeIssue(.leafWithoutCondition, file: file, item: node.id, "a leaf must state its condition"))
        }
        return issues
    }

    /// Every leaf and every family has exactly one rule; rules name known nodes and carry
    /// a sentence and valid hallmarks.
    public static func ruleIssues(_ rules: [DiagnosticRule], nodes: [TaxonomyNode]) -> [KnowledgeIssue] {
        let file = rulesFileName
        var issues: [KnowledgeIssue] = []
        let ids = Set(nodes.map(\.id))
        var covered = Set<NodeID>()
        for rule in rules {
            if !ids.contains(rule.node) {
                issues.append(KnowledgeIssue(.ruleForUnknownNode, file: file, item: rule.node, "rule names a node the taxonomy lacks"))
            }
            if covered.contains(rule.node) {
                issues.append(KnowledgeIssue(.duplicateRule, file: file, item: rule.node, "more than one rule for this node"))
            }
            covered.insert(rule.node)
            if rule.text.isBlank {
                issues.append(KnowledgeIssue(.emptyField, file: file, item: rule.node, "rule text is empty"))
            }
            for problem in rule.hallmarks.problems {
                issues.append(KnowledgeIssue(.invalidHallmarks, file: file, item: rule.node, problem))
            }
        }
        for node in nodes where node.parent != nil && !covered.contains(node.id) {
            issues.append(KnowledgeIssue(.missingRule, file: file, item: node.id, "no diagnostic rule for this diagnosis"))
        }
        return issues
    }

    public static func ddxIssues(_ edges: [DDxEdge], nodeIDs: Set<NodeID>) -> [KnowledgeIssue] {
        let file = ddxFileName
        var issues: [KnowledgeIssue] = []
        var seen = Set<String>()
        for edge in edges {
            let item = "\(edge.a) -- \(edge.b)"
            for end in [edge.a, edge.b] where !nodeIDs.contains(end) {
                issues.append(KnowledgeIssue(.edgeToUnknownNode, file: file, item: item, "'\(end)' is not a taxonomy node"))
            }
            if edge.a == edge.b {
                issues.append(KnowledgeIssue(.selfLoop, file: file, item: item, "an edge must join two different diagnoses"))
            }
            if !seen.insert(edge.unorderedKey).inserted {
                issues.append(KnowledgeIssue(.duplicateEdge, file: file, item: item, "this pair is listed more than once"))
            }
        }
        return issues
    }

    public static func labelMapIssues(_ maps: [DatasetLabelMap], nodes: [TaxonomyNode]) -> [KnowledgeIssue] {
        let file = labelMapsFileName
        var issues: [KnowledgeIssue] = []
        let conditions = Dictionary(nodes.map { ($0.id, $0.condition) }, uniquingKeysWith: { first, _ in first })
        var datasets = Set<String>()
        for map in maps {
            if !datasets.insert(map.dataset).inserted {
                issues.append(KnowledgeIssue(.duplicateDataset, file: file, item: map.dataset, "dataset listed more than once"))
            }
            if map.levels.isEmpty || map.levels.allSatisfy({ $0.entries.isEmpty }) {
                issues.append(KnowledgeIssue(.emptyField, file: file, item: map.dataset, "dataset has no labels"))
            }
            for level in map.levels {
                var codes = Set<String>()
                for entry in level.entries {
                    let item = "\(map.dataset)/\(level.name)/\(entry.code)"
                    if !codes.insert(entry.code).inserted {
                        issues.append(KnowledgeIssue(.duplicateLabel, file: file, item: item, "label listed more than once"))
                    }
                    if let node = entry.node {
                        if conditions.index(forKey: node) == nil {
                            issues.append(KnowledgeIssue(.labelToUnknownNode, file: file, item: item, "maps to '\(node)', which is not a taxonomy node"))
                        } else if let stated = entry.condition, let own = conditions[node] ?? nil, stated != own {
                            issues.append(KnowledgeIssue(.conflictingCondition, file: file, item: item,
                                                         "states \(stated.rawValue) but '\(node)' is \(own.rawValue)"))
                        }
                    } else if entry.condition == nil && (entry.note ?? "").isBlank {
                        issues.append(KnowledgeIssue(.unmappedLabel, file: file, item: item,
                                                     "maps to no node and no condition, and no note says why"))
                    }
                }
            }
        }
        return issues
    }
}

extension String {
    /// True for the empty string and for whitespace only.
    var isBlank: Bool { allSatisfy(\.isWhitespace) }
}
