import DataSynth
import Domain

/// One row as the split assigner sees it.
public struct SplitCandidate: Sendable, Equatable {
    /// Lesion or patient id, else the image id: rows sharing it share a split.
    public var group: String
    /// Stratum (the mapped node or label code), so every class reaches every split.
    public var stratum: String
    public var official: CorpusSplit?

    public init(group: String, stratum: String, official: CorpusSplit?) {
        self.group = group
        self.stratum = stratum
        self.official = official
    }
}

/// Assigns train/val/test (METHOD.md §8: official splits where given, else 6:2:2), by
/// group so that no lesion or patient spans two splits, stratified by class, seeded.
public enum SplitAssigner {
    /// The 6:2:2 ratio of the method.
    public static let ratio: (train: Int, val: Int, test: Int) = (6, 2, 2)

    /// - Official splits are kept. When a dataset gives train and test but no validation
    ///   split, a validation part is carved out of its train groups at 6:2.
    /// - Rows without an official split get 6:2:2 over their groups.
    /// A group takes the split of its first row that has an official one.
    public static func assign(_ rows: [SplitCandidate], seed: UInt64) -> [CorpusSplit] {
        var officialOfGroup: [String: CorpusSplit] = [:]
        var strataOfGroup: [String: String] = [:]
        var groupOrder: [String] = []
        for row in rows {
            if strataOfGroup[row.group] == nil {
                strataOfGroup[row.group] = row.stratum
                groupOrder.append(row.group)
            }
            if officialOfGroup[row.group] == nil, let official = row.official { officialOfGroup[row.group] = official }
        }
        let officialSplits = Set(officialOfGroup.values)
        var splitOfGroup: [String: CorpusSplit] = [:]

        // Groups with no official split: 6:2:2.
        let free = groupOrder.filter { officialOfGroup[$0] == nil }
        for (group, split) in distribute(free, strata: strataOfGroup, seed: seed, stream: "free",
                                         weights: [(.train, ratio.train), (.val, ratio.val), (.test, ratio.test)]) {
            splitOfGroup[group] = split
        }
        // Official train with no official validation: carve val out of train at 6:2.
        let carveValidation = officialSplits.contains(.train) && !officialSplits.contains(.val)
        for group in groupOrder {
            guard let official = officialOfGroup[group] else { continue }
            splitOfGroup[group] = official
        }
        if carveValidation {
            let trainGroups = groupOrder.filter { officialOfGroup[$0] == .train }
            for (group, split) in distribute(trainGroups, strata: strataOfGroup, seed: seed, stream: "validation",
                                             weights: [(.train, ratio.train), (.val, ratio.val)]) {
                splitOfGroup[group] = split
            }
        }
        return rows.map { splitOfGroup[$0.group]! }
    }

    /// Shuffles each stratum's groups with the seed and cuts it by the weights (largest
    /// remainder), so the counts per stratum follow the ratio as closely as whole groups allow.
    static func distribute(_ groups: [String], strata: [String: String], seed: UInt64, stream: String,
                           weights: [(CorpusSplit, Int)]) -> [(String, CorpusSplit)] {
        var byStratum: [String: [String]] = [:]
        for group in groups { byStratum[strata[group] ?? "", default: []].append(group) }
        var result: [(String, CorpusSplit)] = []
        let total = weights.reduce(0) { $0 + $1.1 }
        for stratum in byStratum.keys.sorted() {
            var random = SplitMix64(seed: seed, stream: stream + "/" + stratum)
            let members = random.shuffled(byStratum[stratum]!.sorted())
            var start = 0
            var cumulative = 0
            for (index, (split, weight)) in weights.enumerated() {
                cumulative += weight
                let end = index == weights.count - 1 ? members.count
                    : Int((Double(members.count * cumulative) / Double(total)).rounded())
                for group in members[start..<max(start, end)] { result.append((group, split)) }
                start = max(start, end)
            }
        }
        return result
    }
}
