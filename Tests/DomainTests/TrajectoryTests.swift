import Testing
@testable import Domain

@Suite struct TrajectoryTests {
    let synthesizer: TrajectorySynthesizer
    let cases: [TextbookCase]

    init() throws {
        synthesizer = TrajectorySynthesizer(knowledge: try Fixture.knowledge())
        cases = Fixture.cases().map { TextbookCase(caseID: $0.caseID, imageSHA: $0.imageSHA, label: $0.label) }
    }

    private func thinkingAndDiagnosis(_ target: String) -> (String, String)? {
        guard let thinking = AnswerParser.taggedContent(target, open: "<thinking>", close: "</thinking>"),
              let diagnosis = AnswerParser.taggedContent(target, open: "<diagnosis>", close: "</diagnosis>") else { return nil }
        return (thinking, diagnosis)
    }

    @Test func typeOneStatesRationaleTaxonomyAndCondition() async throws {
        let primary = cases.first { $0.label == "ssm" }!
        let t = try await synthesizer.synthesize(.direct, primary: primary, cases: cases, seed: 1)
        #expect(t.type == .direct && t.imageSHA == primary.imageSHA && t.finalDiagnosis == "ssm")
        let (thinking, diagnosis) = try #require(thinkingAndDiagnosis(t.target))
        #expect(thinking.contains("The presence of the hallmarks of superficial spreading melanoma"))
        #expect(thinking.contains("Findings:"))
        #expect(thinking.contains("Nodular melanoma"), "siblings are named for label augmentation")
        #expect(diagnosis.contains("Superficial spreading melanoma; families: Malignant melanocytic lesion > Melanoma; condition: malignant"))
    }

    @Test func typeTwoComparesWithTheDDxNeighbourAndKeepsThePrimary() async throws {
        let primary = cases.first { $0.label == "ak" }!
        let t = try await synthesizer.synthesize(.differential, primary: primary, cases: cases, seed: 2)
        #expect(t.type == .differential)
        #expect(t.differentialDiagnosis == "bowen")
        #expect(t.finalDiagnosis == "ak" && t.imageSHA == primary.imageSHA)
        let (thinking, diagnosis) = try #require(thinkingAndDiagnosis(t.target))
        #expect(thinking.contains("glomerular vessels favour Bowen disease"), "the edge note is used")
        #expect(thinking.contains("support Actinic keratosis rather than Bowen disease"))
        #expect(diagnosis.hasPrefix(" Actinic keratosis;"))
        #expect(cases.contains { $0.caseID == t.otherCaseID && $0.label == "bowen" })
    }

    @Test func typeThreeRevisesOnTheDifferentialCasesImage() async throws {
        let primary = cases.first { $0.label == "ak" }!
        let t = try await synthesizer.synthesize(.revision, primary: primary, cases: cases, seed: 3)
        #expect(t.type == .revision)
        #expect(t.primaryDiagnosis == "ak")
        #expect(t.finalDiagnosis == "bowen")
        // The image is that of a case whose true label is d_f.
        let imageCase = try #require(cases.first { $0.imageSHA == t.imageSHA })
        #expect(imageCase.label == t.finalDiagnosis)
        #expect(imageCase.caseID == t.caseID)
        let (thinking, diagnosis) = try #require(thinkingAndDiagnosis(t.target))
        #expect(thinking.hasPrefix(" At first sight this suggests Actinic keratosis"))
        #expect(thinking.contains("Revised diagnosis: Bowen disease"))
        #expect(diagnosis.contains("Bowen disease; families: Precancerous keratinocytic lesion; condition: precancerous in situ"))
    }

    @Test func synthesisIsReproducibleAndFallsBackToARandomOtherDiagnosis() async throws {
        let primary = cases.first { $0.label == "lentigo" }!
        let a = try await synthesizer.synthesize(.differential, primary: primary, cases: cases, seed: 8)
        let b = try await synthesizer.synthesize(.differential, primary: primary, cases: cases, seed: 8)
        #expect(a == b)
        // lentigo has no DDx neighbour (nor has its parent): some unrelated diagnosis is used.
        let other = try #require(a.differentialDiagnosis)
        #expect(other != "lentigo" && other != "mel_benign")
        let lonely = [primary]
        await #expect(throws: TrajectoryError.self) {
            try await synthesizer.synthesize(.revision, primary: primary, cases: lonely, seed: 1)
        }
    }

    @Test func templateComparatorUsesRulesAndNote() throws {
        let knowledge = try Fixture.knowledge()
        let request = ComparisonRequest(primary: "ak", primaryName: "Actinic keratosis", primaryRule: knowledge.rules["ak"]!,
                                        differential: "bowen", differentialName: "Bowen disease",
                                        differentialRule: knowledge.rules["bowen"]!, favoured: "bowen", edgeNote: "note X")
        let text = TemplateComparator().text(for: request)
        #expect(text.contains("note X"))
        #expect(text.contains("clustered glomerular vessels"))
        #expect(text.contains("support Bowen disease rather than Actinic keratosis"))
    }

    struct Failing: Comparator {
        struct Down: Error {}
        func compare(_ request: ComparisonRequest) async throws -> String { throw Down() }
    }

    @Test func aPluggedComparatorIsUsedAndItsErrorsSurface() async throws {
        let failing = TrajectorySynthesizer(knowledge: try Fixture.knowledge(), comparator: Failing())
        let primary = cases.first { $0.label == "ak" }!
        await #expect(throws: Failing.Down.self) {
            try await failing.synthesize(.differential, primary: primary, cases: cases, seed: 1)
        }
        // Type 1 needs no comparator.
        let direct = try await failing.synthesize(.direct, primary: primary, cases: cases, seed: 1)
        #expect(direct.finalDiagnosis == "ak")
    }
}
