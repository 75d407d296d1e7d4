import Testing
@testable import Domain

@Suite struct TaxonomyTests {
    @Test func pathRunsFromFamilyToNodeWithoutRoot() throws {
        let t = try Fixture.taxonomy()
        #expect(t.root == "root")
        #expect(t.path(to: "ssm") == ["mel_malignant", "melanoma", "ssm"])
        #expect(t.path(to: "mel_benign") == ["mel_benign"])
        #expect(t.path(to: "root").isEmpty)
        #expect(t.path(to: "no_such_node").isEmpty)
        #expect(t.ancestors(of: "ssm") == ["mel_malignant", "melanoma"])
    }

    @Test func childrenSiblingsDepth() throws {
        let t = try Fixture.taxonomy()
        #expect(t.children(of: "melanoma") == ["ssm", "nodular"])
        #expect(t.siblings(of: "ssm") == ["nodular"])
        #expect(t.siblings(of: "root").isEmpty)
        #expect(t.depth(of: "root") == 0)
        #expect(t.depth(of: "mel_malignant") == 1)
        #expect(t.depth(of: "nodular") == 3)
        #expect(t.depth(of: "nothing") == nil)
        #expect(t.descendants(of: "mel_benign") == ["nevus", "blue_nevus", "dysplastic", "lentigo"])
        #expect(t.isAncestor("mel_benign", of: "blue_nevus"))
        #expect(!t.isAncestor("blue_nevus", of: "mel_benign"))
        #expect(t.leaves.count == 9)
        #expect(Set(t.families) == ["mel_benign", "nevus", "mel_malignant", "melanoma", "precancer", "nonmel_malignant"])
    }

    @Test func conditionsAreExplicitOrTheChildrensMajority() throws {
        let t = try Fixture.taxonomy()
        #expect(t.condition(of: "ssm") == .malignant)
        // "precancer" states none: both children are precancerous in situ.
        #expect(t.condition(of: "precancer") == .precancerousInSitu)
        #expect(Taxonomy.majority([.malignant, .benign, .malignant]) == .malignant)
        #expect(Taxonomy.majority([.malignant, .benign]) == .benign)
        #expect(Taxonomy.majority([]) == nil)
    }

    @Test func lookupIgnoresCaseSpacingAndPunctuation() throws {
        let t = try Fixture.taxonomy()
        #expect(t.lookup("BOWEN'S   disease")?.id == "bowen")
        #expect(t.lookup("bowen")?.id == "bowen")
        #expect(t.lookup("superficial-spreading melanoma")?.id == "ssm")
        #expect(t.lookup("nv")?.id == "nevus")
        #expect(t.lookup(" clark_nevus ")?.id == "dysplastic")
        #expect(t.lookup("") == nil)
        #expect(t.lookup("psoriasis") == nil)
    }

    @Test func hierarchicalCompletionNamesFamiliesSiblingsAndCondition() throws {
        let t = try Fixture.taxonomy()
        let c = try #require(t.completion(for: "ssm"))
        #expect(c.pathNames == ["Malignant melanocytic lesion", "Melanoma", "Superficial spreading melanoma"])
        #expect(c.siblingNames == ["Nodular melanoma"])
        #expect(c.condition == .malignant)
        #expect(c.diagnosisLine == "Superficial spreading melanoma; families: Malignant melanocytic lesion > Melanoma; condition: malignant")
        #expect(c.text.contains("under Melanoma, under Malignant melanocytic lesion"))
        #expect(c.text.contains("Nodular melanoma"))
        #expect(t.completion(for: "root") == nil)
    }

    @Test func conditionTextIsReadFromAnswers() {
        #expect(LesionCondition.mentioned(in: "B, malignant") == .malignant)
        #expect(LesionCondition.mentioned(in: "precancerous in situ") == .precancerousInSitu)
        #expect(LesionCondition.mentioned(in: "pre-malignant lesion") == .precancerousInSitu)
        #expect(LesionCondition.mentioned(in: "Benign.") == .benign)
        #expect(LesionCondition.mentioned(in: "benign or malignant") == nil)
        #expect(LesionCondition.mentioned(in: "") == nil)
    }
}

@Suite struct RandomTests {
    @Test func splitMixIsReproducibleAndStreamsDiffer() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        var s1 = SplitMix64(seed: 42, stream: "x"), s2 = SplitMix64(seed: 42, stream: "y")
        #expect(s1.next() != s2.next())
        // Known first output of SplitMix64 seeded with 0.
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func boundedDrawsStayInRangeAndShuffleIsAPermutation() {
        var rng = SplitMix64(seed: 7)
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let x = rng.nextInt(below: 5)
            #expect((0..<5).contains(x))
            seen.insert(x)
            let d = rng.nextDouble()
            #expect(d >= 0 && d < 1)
        }
        #expect(seen.count == 5)
        let items = Array(0..<20)
        let shuffled = rng.shuffled(items)
        #expect(shuffled.sorted() == items)
        #expect(shuffled != items)
        #expect(rng.pick([Int]()) == nil)
    }
}
