import Testing
@testable import Workers

@Suite("The base's visual corpus")
struct VisualCorpusTests {
    @Test func theCaseLimitIsSpreadOverEveryDataset() {
        // The quick profile's catalogue: 2,225 candidate cases in id order, the textbook
        // (ids 1,853-2,224) last; the base looks at 1,500 of them.
        let picked = VisualCorpus.spread(2225, limit: 1500)
        #expect(picked.count == 1500)
        #expect(picked.contains(0))
        #expect(picked.filter { $0 >= 1853 }.count >= 240, "the textbook's share of the picks")
        #expect(picked.allSatisfy { (0..<2225).contains($0) })
        // Fewer cases than the limit: all of them; no room: none.
        #expect(VisualCorpus.spread(10, limit: 20) == Set(0..<10))
        #expect(VisualCorpus.spread(10, limit: 0).isEmpty)
    }
}
