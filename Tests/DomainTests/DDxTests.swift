import Testing
@testable import Domain

@Suite struct DDxTests {
    @Test func graphIsUndirectedWithNotes() {
        let g = Fixture.graph()
        #expect(g.neighbours(of: "bowen") == ["ak", "scc"])
        #expect(g.neighbours(of: "scc") == ["bcc", "bowen"])
        #expect(g.note(between: "melanoma", and: "nevus") == "melanoma breaks symmetry")
        #expect(g.note(between: "nevus", and: "melanoma") == "melanoma breaks symmetry")
        #expect(g.note(between: "nevus", and: "bcc") == nil)
        #expect(g.neighbours(of: "lentigo").isEmpty)
    }

    @Test func directNeighbourWithCases() throws {
        let t = try Fixture.taxonomy()
        var rng = SplitMix64(seed: 1)
        #expect(resolveDDxNeighbor("ak", graph: Fixture.graph(), taxonomy: t, caseLabels: ["bowen", "bcc"], rng: &rng) == "bowen")
        // Several backed neighbours: the answer is one of them, and the same seed repeats it.
        var a = SplitMix64(seed: 9), b = SplitMix64(seed: 9)
        let first = resolveDDxNeighbor("bowen", graph: Fixture.graph(), taxonomy: t, caseLabels: ["ak", "scc"], rng: &a)
        #expect(first == "ak" || first == "scc")
        #expect(resolveDDxNeighbor("bowen", graph: Fixture.graph(), taxonomy: t, caseLabels: ["ak", "scc"], rng: &b) == first)
    }

    @Test func neighbourOnlyThroughItsChildren() throws {
        let t = try Fixture.taxonomy()
        var rng = SplitMix64(seed: 2)
        // nevus -- melanoma, but only the child ssm has cases.
        #expect(resolveDDxNeighbor("nevus", graph: Fixture.graph(), taxonomy: t, caseLabels: ["ssm", "bcc"], rng: &rng) == "ssm")
    }

    @Test func parentsNeighboursWhenTheNodeHasNone() throws {
        let t = try Fixture.taxonomy()
        var rng = SplitMix64(seed: 3)
        // blue_nevus has no edge; its parent nevus has melanoma.
        #expect(resolveDDxNeighbor("blue_nevus", graph: Fixture.graph(), taxonomy: t, caseLabels: ["melanoma"], rng: &rng) == "melanoma")
        #expect(resolveDDxNeighbor("blue_nevus", graph: Fixture.graph(), taxonomy: t, caseLabels: ["nodular"], rng: &rng) == "nodular")
    }

    @Test func noneWhenNoNeighbourOrNoCase() throws {
        let t = try Fixture.taxonomy()
        var rng = SplitMix64(seed: 4)
        // lentigo and its parent mel_benign have no edges.
        #expect(resolveDDxNeighbor("lentigo", graph: Fixture.graph(), taxonomy: t, caseLabels: Set(Fixture.labels), rng: &rng) == nil)
        // ak has a neighbour, but no case carries it or its children.
        #expect(resolveDDxNeighbor("ak", graph: Fixture.graph(), taxonomy: t, caseLabels: ["bcc"], rng: &rng) == nil)
        // The root has no parent.
        #expect(resolveDDxNeighbor("root", graph: Fixture.graph(), taxonomy: t, caseLabels: ["bcc"], rng: &rng) == nil)
    }
}
