import Testing
@testable import Domain
import Knowledge

/// Properties over many seeded random items built from the shipped knowledge.
@Suite struct RewardPropertyTests {
    let knowledge: KnowledgeBase
    let builder: QuestionBuilder
    let cases: [QuestionCase]
    let terms: DatasetPathTerms

    init() throws {
        knowledge = try KnowledgeBase.load()
        builder = QuestionBuilder(taxonomy: knowledge.taxonomy, graph: knowledge.graph)
        // Every mapped training label becomes a case of its dataset.
        cases = knowledge.labelMaps.filter { $0.role == .training }.flatMap { map in
            map.nodes.sorted().enumerated().map { i, node in
                QuestionCase(caseID: "\(map.dataset)-\(i)", dataset: map.dataset, label: node, imageSHA: "sha-\(map.dataset)-\(i)")
            }
        }
        terms = DatasetPathTerms(cases: cases, taxonomy: knowledge.taxonomy)
    }

    private func randomItem(_ rng: inout SplitMix64) throws -> QuestionItem {
        let item = rng.pick(cases)!
        let seed = rng.next()
        switch rng.nextInt(below: 5) {
        case 0: return try builder.rlPrompt(for: item, pathTerms: terms, seed: seed)
        case 1: return try builder.diseaseItem(for: item, pathTerms: terms, seed: seed)
        case 2: return try builder.ddxItem(for: item, seed: seed)
        case 3: return try builder.conditionItem(for: item, seed: seed)
        default:
            let vocabulary = knowledge.labelMap(for: "ISIC2019")!.nodes.sorted()
            return try builder.oodItem(for: item, vocabulary: vocabulary, seed: seed)
        }
    }

    @Test func theFinestCorrectOptionEarnsExactlyThreeQuarters() throws {
        var rng = SplitMix64(seed: 2024)
        for _ in 0..<1500 {
            let item = try randomItem(&rng)
            let best = try #require(item.option(item.correctLetter))
            #expect(best.granularityReward == 0.75)
            #expect(item.options.allSatisfy { $0.granularityReward >= 0 && $0.granularityReward <= 0.75 })
            #expect(item.options.filter { $0.granularityReward == 0.75 }.count == 1)
            let condition = item.answerFormat == .letterOnly ? "" : ", \(item.groundTruthCondition.text)"
            let perfect = "<thinking> findings </thinking> <final diagnosis> \(item.correctLetter)\(condition) </final diagnosis>"
            #expect(SkinR1Reward.score(answer: perfect, item: item).total == 2)
        }
    }

    @Test func totalRewardStaysWithinZeroAndTwo() throws {
        var rng = SplitMix64(seed: 77)
        let words = ["<thinking>", "</thinking>", "<final diagnosis>", "</final diagnosis>", "A", "B", "C", "D", ",",
                     "benign", "malignant", "precancerous in situ", "melanoma", "answer", "is", " ", "\u{0}", "ü"]
        for _ in 0..<3000 {
            let item = try randomItem(&rng)
            let answer = (0..<rng.nextInt(in: 0...12)).map { _ in rng.pick(words)! }.joined(separator: rng.nextInt(below: 2) == 0 ? " " : "")
            let mode: ParseMode = rng.nextInt(below: 2) == 0 ? .strict : .lenient
            let r = SkinR1Reward.score(answer: answer, item: item, mode: mode)
            #expect(r.total >= 0 && r.total <= SkinR1Reward.maximum)
            #expect(r.total == r.format + r.granularity + r.malignancy)
        }
    }

    @Test func garbageEarnsZeroWithoutCrashing() throws {
        var rng = SplitMix64(seed: 31)
        for _ in 0..<1000 {
            let item = try randomItem(&rng)
            let scalars = (0..<rng.nextInt(in: 0...80)).compactMap { _ in Unicode.Scalar(UInt32(rng.nextInt(below: 0x2_0000))) }
            let garbage = String(String.UnicodeScalarView(scalars))
            let r = SkinR1Reward.score(answer: garbage, item: item)
            #expect(r.total == 0)
            #expect(!r.optionExtracted)
        }
    }
}
