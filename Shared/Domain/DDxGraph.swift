/// An undirected edge of the DDx graph G between two confusable diagnoses (METHOD 2.2),
/// with a short note of the feature that tells them apart.
public struct DDxEdge: Codable, Sendable, Equatable, Hashable {
    public var a: NodeID
    public var b: NodeID
    public var note: String

    public init(_ a: NodeID, _ b: NodeID, note: String) {
        self.a = a
        self.b = b
        self.note = note
    }

    /// The same pair regardless of direction.
    public var unorderedKey: String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }
}

/// The DDx graph G with adjacency lists. Neighbours are listed in a fixed order (sorted by
/// id) so that every traversal is reproducible before any seeded shuffle.
public struct DDxGraph: Sendable {
    public let edges: [DDxEdge]
    private let adjacency: [NodeID: [NodeID]]
    private let notes: [String: String]

    public init(edges: [DDxEdge]) {
        self.edges = edges
        var adjacency: [NodeID: Set<NodeID>] = [:]
        var notes: [String: String] = [:]
        for edge in edges where edge.a != edge.b {
            adjacency[edge.a, default: []].insert(edge.b)
            adjacency[edge.b, default: []].insert(edge.a)
            if notes[edge.unorderedKey] == nil { notes[edge.unorderedKey] = edge.note }
        }
        self.adjacency = adjacency.mapValues { $0.sorted() }
        self.notes = notes
    }

    /// V(G): the diagnoses that take part in at least one edge.
    public var vertices: [NodeID] { adjacency.keys.sorted() }
    public func contains(_ id: NodeID) -> Bool { adjacency[id] != nil }

    /// Adj_G(d), sorted by id; empty when d is not in the graph.
    public func neighbours(of id: NodeID) -> [NodeID] { adjacency[id] ?? [] }

    /// The discriminating note of the edge between two diagnoses, if they are adjacent.
    public func note(between a: NodeID, and b: NodeID) -> String? {
        notes[DDxEdge(a, b, note: "").unorderedKey]
    }
}

/// ResolveDDXNeighbor(d, G, T, D_case), METHOD 3.2 (the paper's Algorithm 4).
///
/// Candidates are d's graph neighbours or, when d has none, its parent's. They are visited
/// in sorted order shuffled by `rng`; the first candidate that some case carries as its
/// label wins, else one of its children that some case carries (chosen by `rng`). Returns
/// nil when d and its parent have no neighbours or no candidate is backed by a case.
public func resolveDDxNeighbor(_ d: NodeID, graph: DDxGraph, taxonomy: Taxonomy,
                               caseLabels: Set<NodeID>, rng: inout SplitMix64) -> NodeID? {
    var candidates = graph.neighbours(of: d)
    if candidates.isEmpty {
        guard let parent = taxonomy.parent(of: d) else { return nil }
        candidates = graph.neighbours(of: parent)
        if candidates.isEmpty { return nil }
    }
    for candidate in rng.shuffled(candidates) {
        if caseLabels.contains(candidate) { return candidate }
        let backedChildren = taxonomy.children(of: candidate).filter { caseLabels.contains($0) }
        if let child = rng.pick(backedChildren) { return child }
    }
    return nil
}
