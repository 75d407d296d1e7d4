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
