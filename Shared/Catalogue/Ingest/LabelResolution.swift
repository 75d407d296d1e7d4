import Domain

/// What a row's labels mean in the taxonomy.
public enum LabelResolution: Sendable, Equatable {
    /// A diagnosis node (nil when the label only tells the condition, as ISIC 2016's
    /// "benign") and the condition; `level` is the label-map level that decided.
    case labelled(node: NodeID?, condition: LesionCondition, level: String)
    /// The knowledge maps the label to no diagnosis on purpose; `note` says why.
    case leftOut(note: String)
}

/// Maps a row's label codes through the knowledge's label maps. Pure.
public struct LabelResolver: Sendable {
    public let knowledge: KnowledgeBase

    public init(knowledge: KnowledgeBase) { self.knowledge = knowledge }

    /// The resolution of a row, or an unknown-label error naming its file and row.
    public func resolve(_ row: IngestRow) throws(IngestError) -> LabelResolution {
        guard let map = knowledge.labelMap(for: row.labelDataset) else {
            throw IngestError(.layout, at: row.source, "the knowledge has no label map for \(row.labelDataset)")
        }
        switch row.labelDataset {
        case "DermNet": return try resolveDermNet(row, map)
        default:
            if row.levelOrder == ["answer"] { return try resolveAnswer(row, map) }
            return try resolveFinest(row, map)
        }
    }

    /// The finest level with a code decides; its code must be in the map.
    private func resolveFinest(_ row: IngestRow, _ map: DatasetLabelMap) throws(IngestError) -> LabelResolution {
        guard let level = row.levelOrder.last(where: { row.labels[$0] != nil }), let code = row.labels[level] else {
            throw IngestError(.malformedRow, at: row.source, "no label")
        }
        guard let entry = map.entry(for: code, level: level) else {
            throw IngestError(.unknownLabel, at: row.source,
                              "\(level) \"\(code)\" is not in the \(map.dataset) label map (known: \(knownCodes(map, level)))")
        }
        return try resolution(of: entry, level: level, row: row)
    }

    /// DermNet: the category folder, refined by the file-name diagnosis when that names a
    /// node inside the category; mixed categories (no node) rely on the file name alone.
    private func resolveDermNet(_ row: IngestRow, _ map: DatasetLabelMap) throws(IngestError) -> LabelResolution {
        let category = row.labels["category"] ?? ""
        guard let entry = map.entry(for: category, level: "category") else {
            throw IngestError(.unknownLabel, at: row.source,
                              "category folder \"\(category)\" is not in the DermNet label map (known: \(knownCodes(map, "category")))")
        }
        let diagnosis = row.labels["diagnosis"].flatMap { map.entry(containedIn: $0, level: "diagnosis") }
        if let categoryNode = entry.node {
            if let fine = diagnosis?.node, fine == categoryNode || knowledge.taxonomy.isAncestor(categoryNode, of: fine) {
                return try resolution(of: diagnosis!, level: "diagnosis", row: row)
            }
            return try resolution(of: entry, level: "category", row: row)
        }
        if let diagnosis, diagnosis.node != nil || diagnosis.condition != nil {
            return try resolution(of: diagnosis, level: "diagnosis", row: row)
        }
        return .leftOut(note: "file name \"\(row.labels["diagnosis"] ?? "")\" names no diagnosis of the map, and "
                        + (entry.note ?? "the category maps to no diagnosis"))
    }

    /// OmniMedVQA answers: the subset's map (any level, case and spacing ignored, final
    /// period dropped), else a taxonomy name or alias.
    private func resolveAnswer(_ row: IngestRow, _ map: DatasetLabelMap) throws(IngestError) -> LabelResolution {
        let answer = row.labels["answer"] ?? ""
        var trimmed = answer.trimmingCharacters(in: .whitespaces)
        while trimmed.hasSuffix(".") { trimmed.removeLast() }
        if let entry = map.entry(for: answer) ?? map.entry(for: trimmed) {
            let level = map.levels.last { $0.entries.contains(entry) }?.name ?? "answer"
            return try resolution(of: entry, level: level, row: row)
        }
        if let node = knowledge.taxonomy.lookup(trimmed) {
            return try resolution(of: LabelMapEntry(code: answer, node: node.id), level: "taxonomy", row: row)
        }
        throw IngestError(.unknownLabel, at: row.source,
                          "answer \"\(answer)\" is neither in the \(map.dataset) label map nor a taxonomy name or alias")
    }

    private func resolution(of entry: LabelMapEntry, level: String, row: IngestRow) throws(IngestError) -> LabelResolution {
        if let node = entry.node {
            guard let condition = knowledge.taxonomy.condition(of: node) ?? entry.condition else {
                throw IngestError(.unknownLabel, at: row.source, "node \(node) of \(level) \"\(entry.code)\" has no condition")
            }
            return .labelled(node: node, condition: condition, level: level)
        }
        if let condition = entry.condition { return .labelled(node: nil, condition: condition, level: level) }
        return .leftOut(note: entry.note ?? "\(level) \"\(entry.code)\" maps to no diagnosis")
    }

    private func knownCodes(_ map: DatasetLabelMap, _ level: String) -> String {
        let codes = map.levels.first { $0.name == level }?.entries.map(\.code) ?? []
        return codes.count > 12 ? codes.prefix(12).joined(separator: ", ") + ", ..." : codes.joined(separator: ", ")
    }
}
