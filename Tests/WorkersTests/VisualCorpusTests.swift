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

@Suite("The base's naming captions")
struct NamingCaptionTests {
    static let knowledge: KnowledgeBase = try! KnowledgeBase.load()

    static func appearance(label: NodeID?) -> CaseAppearance {
        let rule = knowledge.rules["melanoma"] ?? knowledge.rules.values.first!
        return CaseAppearance(caseID: "ham-0001", imageSHA: "abc", appearance: rule.hallmarks, label: label)
    }

    @Test func aCaptionNamesTheLabelAfterWhatTheImageShows() throws {
        let taxonomy = Self.knowledge.taxonomy
        let label = try #require(taxonomy.lookup("melanoma")?.id)
        let caption = try #require(VisualCorpus.naming(for: Self.appearance(label: label), taxonomy: taxonomy))
        #expect(caption.imageSHA == "abc")
        #expect(caption.prompt == VisualCorpus.namingPrompt)
        #expect(caption.answer.hasPrefix(PromptText.thinkingOpen + " The image shows "))
        #expect(caption.answer.hasSuffix("These findings indicate \(taxonomy.name(of: label)). \(PromptText.thinkingClose)"))
        // No caption for an unlabelled case, the root or a label outside the taxonomy.
        #expect(VisualCorpus.naming(for: Self.appearance(label: nil), taxonomy: taxonomy) == nil)
        #expect(VisualCorpus.naming(for: Self.appearance(label: taxonomy.root), taxonomy: taxonomy) == nil)
        #expect(VisualCorpus.naming(for: Self.appearance(label: "no_such_node"), taxonomy: taxonomy) == nil)
    }

    @Test func theNamingShareSetsHowOftenACaptionIsPicked() {
        let visual = (0..<5).map { VisualExample(imageSHA: "v\($0)", prompt: "p", answer: "a") }
        let naming = (0..<5).map { VisualExample(imageSHA: "n\($0)", prompt: VisualCorpus.namingPrompt, answer: "a") }
        func captions(share: Double, naming: [VisualExample]) -> Int {
            var rng = SplitMix64(seed: 1, stream: "pick")
            return (0..<2000).filter { _ in
                BaseModelBuilder.pick(visual: visual, naming: naming, namingShare: share, rng: &rng).imageSHA.hasPrefix("n")
            }.count
        }
        #expect(captions(share: 0, naming: naming) == 0)
        #expect(captions(share: 1, naming: naming) == 2000)
        #expect(captions(share: 0.5, naming: []) == 0, "no captions to pick")
        let half = captions(share: 0.5, naming: naming)
        #expect(half > 900 && half < 1100, "\(half) of 2000")
    }
}
