import Domain
import Knowledge
import Testing
@testable import Workers

@Suite("The base's visual corpus")
struct VisualCorpusTests {
    @Test func theCaseLimitIsSpreadOverEveryDataset() {
        // The quick profile's catalogue: 2,225 candidate cases in id order, the textbook
        // (ids 1,853-2,224) last; the base looks at 1,500 of them.
        let picked = Array(0..<2225).evenlySpread(limit: 1500)
        #expect(picked.count == 1500)
        #expect(picked.first == 0)
        #expect(zip(picked, picked.dropFirst()).allSatisfy { $0 < $1 }, "distinct, in id order")
        #expect(picked.filter { $0 >= 1853 }.count >= 240, "the textbook's share of the picks")
        #expect(picked.allSatisfy { (0..<2225).contains($0) })
        // Fewer cases than the limit: all of them; no room: none.
        #expect(Array(0..<10).evenlySpread(limit: 20) == Array(0..<10))
        #expect(Array(0..<10).evenlySpread(limit: 0).isEmpty)
        // The tokenizer's text sample keeps every text when it has no limit.
        #expect(BaseModelBuilder.sample(["a", "b", "c"], limit: 0) == ["a", "b", "c"])
        #expect(BaseModelBuilder.sample(["a", "b", "c", "d"], limit: 2) == ["a", "c"])
    }
}

@Suite("The base's naming questions")
struct NamingQuestionTests {
    static let knowledge: KnowledgeBase = try! KnowledgeBase.load()

    static func appearance(_ id: String, label: NodeID?) -> CaseAppearance {
        let rule = knowledge.rules.values.sorted { $0.node < $1.node }.first!
        return CaseAppearance(caseID: id, imageSHA: "sha-\(id)", appearance: rule.hallmarks, label: label)
    }

    @Test func aQuestionNamesTheLabelThenAnswersWithItsLetter() throws {
        let taxonomy = Self.knowledge.taxonomy
        let labels = try ["melanoma", "basal cell carcinoma", "dermatofibroma", "actinic keratosis", "seborrheic keratosis"]
            .map { try #require(taxonomy.lookup($0)?.id, "\($0)") }
        let cases = labels.enumerated().map { Self.appearance("case-\($0.offset)", label: $0.element) }
            + [Self.appearance("unlabelled", label: nil), Self.appearance("root", label: taxonomy.root)]
        let questions = VisualCorpus.naming(for: cases, taxonomy: taxonomy, seed: 7)
        #expect(questions.count == labels.count, "no question for an unlabelled case or the root")
        var letters: Set<String> = []
        for (question, label) in zip(questions, labels) {
            let name = taxonomy.name(of: label)
            let lines = question.prompt.split(separator: "\n").map(String.init)
            #expect(lines.first == VisualCorpus.namingQuestion)
            let options = lines.filter { $0.count > 3 && $0.dropFirst().hasPrefix(": ") }
            #expect(options.count == 4)
            #expect(Set(options.map { String($0.dropFirst(3)) }).count == 4, "four distinct names")
            let line = try #require(options.first { $0.hasSuffix(": \(name)") }, "the label is an option")
            let letter = String(line.prefix(1))
            letters.insert(letter)
            let parsed = AnswerParser.parse(question.answer, letters: ["A", "B", "C", "D"])
            #expect(parsed.letter == letter, "\(question.answer)")
            #expect(question.answer.contains("These findings indicate \(name). \(PromptText.thinkingClose)"))
            #expect(!question.prompt.contains(PromptText.stem(for: .disease)), "not the disease questions' wording")
        }
        #expect(letters.count >= 2, "the answer's position varies")
        // A lone label has nothing to be told apart from.
        #expect(VisualCorpus.naming(for: [cases[0]], taxonomy: taxonomy, seed: 7).isEmpty)
    }

    @Test func theNamingShareSetsHowOftenABatchOfQuestionsIsPicked() {
        let visual = (0..<5).map { VisualExample(imageSHA: "v\($0)", prompt: "p", answer: "a") }
        let naming = (0..<5).map { VisualExample(imageSHA: "n\($0)", prompt: VisualCorpus.namingQuestion, answer: "a") }
        /// Batches of naming questions among 2,000; every batch is of one kind.
        func namingBatches(share: Double, naming: [VisualExample]) -> Int {
            var rng = SplitMix64(seed: 1, stream: "pick")
            return (0..<2000).filter { _ in
                let batch = BaseModelBuilder.batch(4, visual: visual, naming: naming, namingShare: share, rng: &rng)
                #expect(batch.count == 4)
                let kinds = Set(batch.map { $0.imageSHA.hasPrefix("n") })
                #expect(kinds.count == 1, "one kind per batch")
                return kinds == [true]
            }.count
        }
        #expect(namingBatches(share: 0, naming: naming) == 0)
        #expect(namingBatches(share: 1, naming: naming) == 2000)
        #expect(namingBatches(share: 0.5, naming: []) == 0, "no questions to pick")
        let half = namingBatches(share: 0.5, naming: naming)
        #expect(half > 900 && half < 1100, "\(half) of 2000")
    }
}
