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

    // MARK: compact style and posed trajectories

    @Test func compactTrajectoriesAreShortEndInTheirTagsAndNeverCallTheComparator() async throws {
        let compact = TrajectorySynthesizer(knowledge: try Fixture.knowledge(), comparator: Failing(), style: .compact)
        let ak = cases.first { $0.label == "ak" }!
        let direct = try await compact.synthesize(.direct, primary: ak, cases: cases, seed: 1)
        #expect(direct.thinking.hasPrefix("The image shows "))
        #expect(direct.thinking.hasSuffix("These findings indicate Actinic keratosis."))
        let (thinking, diagnosis) = try #require(thinkingAndDiagnosis(direct.target))
        #expect(thinking == " \(direct.thinking) ")
        #expect(diagnosis.contains("Actinic keratosis; families: Precancerous keratinocytic lesion; condition: precancerous in situ"))

        let differential = try await compact.synthesize(.differential, primary: ak, cases: cases, seed: 2)
        #expect(differential.thinking.contains("indicate Actinic keratosis rather than Bowen disease, which would show "))
        let revision = try await compact.synthesize(.revision, primary: ak, cases: cases, seed: 3)
        #expect(revision.thinking.hasPrefix("It may look like Actinic keratosis"))
        #expect(revision.thinking.hasSuffix("So the diagnosis is Bowen disease."))
        #expect(revision.finalDiagnosis == "bowen")

        let full = try await synthesizer.synthesize(.differential, primary: ak, cases: cases, seed: 2)
        #expect(differential.thinking.count * 3 < full.thinking.count, "compact reasoning is a fraction of the full one")
        #expect(differential.id == full.id, "the style does not change which trajectory it is")
    }

    @Test func compactTrajectoriesStateWhatTheExemplarsOwnImageShows() async throws {
        let compact = TrajectorySynthesizer(knowledge: try Fixture.knowledge(), comparator: Failing(), style: .compact)
        let seen = ["The image shows pink and red colour, fine surface scale and about 7.5 mm across.",
                    "The image shows red colour, thick adherent scale and about 12 mm across."]
        // Exemplars whose rationale opens with what the image shows, as the catalogue's do.
        let grounded = cases.enumerated().map { index, item in
            TextbookCase(caseID: item.caseID, imageSHA: item.imageSHA, label: item.label,
                         rationale: "\(seen[index % 2]) The rule of \(item.label). These findings fit \(item.label).")
        }
        let ak = try #require(grounded.first { $0.label == "ak" })
        #expect(ak.observation.map(seen.contains) == true)
        let direct = try await compact.synthesize(.direct, primary: ak, cases: grounded, seed: 1)
        #expect(direct.thinking == "\(ak.observation!) These findings indicate Actinic keratosis.")
        let differential = try await compact.synthesize(.differential, primary: ak, cases: grounded, seed: 2)
        #expect(differential.thinking.hasPrefix(ak.observation! + " These findings indicate Actinic keratosis rather than"))
        // A revision is about the differential case's image, so it states that image's findings.
        let revision = try await compact.synthesize(.revision, primary: ak, cases: grounded, seed: 3)
        let truth = try #require(grounded.first { $0.caseID == revision.caseID })
        #expect(revision.thinking.contains(". \(truth.observation!) So the diagnosis is Bowen disease."))
        // Without such an opening sentence the rule's hallmarks are stated, as before.
        let ruleOnly = try await compact.synthesize(.direct, primary: cases.first { $0.label == "ak" }!, cases: cases, seed: 1)
        #expect(ruleOnly.thinking != direct.thinking && ruleOnly.thinking.hasPrefix(VisualHallmark.imageShowsOpening))
        for rationale in [nil, "Pink scaly patch on sun-damaged skin. Fits actinic keratosis.", "The image shows only this"] {
            #expect(TextbookCase(caseID: "c", imageSHA: "i", label: "ak", rationale: rationale).observation == nil)
        }
        #expect(TextbookCase(caseID: "c", imageSHA: "i", label: "ak", rationale: seen[0]).observation == seen[0])
    }

    /// `compactByFamily` reaches each conclusion through the diagnosis's top-level family;
    /// everything else is the compact trajectory's, and a top-level family is named alone.
    @Test func byFamilyConclusionsNameTheTopLevelFamilyFirst() async throws {
        let knowledge = try Fixture.knowledge()
        let compact = TrajectorySynthesizer(knowledge: knowledge, comparator: Failing(), style: .compact)
        let byFamily = TrajectorySynthesizer(knowledge: knowledge, comparator: Failing(), style: .compactByFamily)
        let ak = try #require(cases.first { $0.label == "ak" })
        let plain = try await compact.synthesize(.direct, primary: ak, cases: cases, seed: 1)
        let direct = try await byFamily.synthesize(.direct, primary: ak, cases: cases, seed: 1)
        #expect(direct.thinking == plain.thinking.replacing(
            "indicate Actinic keratosis.", with: "indicate Precancerous keratinocytic lesion, more precisely Actinic keratosis."))
        #expect(direct.thinking != plain.thinking)
        #expect(direct.target.split(separator: "</thinking>").last == plain.target.split(separator: "</thinking>").last,
                "the same <diagnosis> line")
        let differential = try await byFamily.synthesize(.differential, primary: ak, cases: cases, seed: 2)
        #expect(differential.thinking.contains(
            "These findings indicate Precancerous keratinocytic lesion, more precisely Actinic keratosis rather than "))
        let revision = try await byFamily.synthesize(.revision, primary: ak, cases: cases, seed: 3)
        let truth = try #require(knowledge.taxonomy.completion(for: revision.finalDiagnosis))
        #expect(revision.thinking.hasSuffix(
            "So the diagnosis is \(truth.familyNames[0]), more precisely \(truth.diagnosisName)."))
        // A diagnosis that is itself a top-level family has no family to name first.
        let family = try #require(knowledge.taxonomy.completion(for: "mel_benign"))
        #expect(byFamily.concluded(family) == "Benign melanocytic lesion")
        #expect(compact.concluded(truth) == truth.diagnosisName)
    }

    @Test func aPosedTrajectoryAnswersItsQuestionForTheFullReward() async throws {
        let knowledge = try Fixture.knowledge()
        let compact = TrajectorySynthesizer(knowledge: knowledge, style: .compact)
        let builder = QuestionBuilder(taxonomy: knowledge.taxonomy, graph: knowledge.graph)
        let questionCases = Fixture.cases()
        let terms = DatasetPathTerms(cases: questionCases, taxonomy: knowledge.taxonomy)
        for label in ["ssm", "ak", "nevus"] {
            let primary = cases.first { $0.label == label }!
            let trajectory = try await compact.synthesize(.direct, primary: primary, cases: cases, seed: 4)
            let asked = QuestionCase(caseID: trajectory.caseID, dataset: "TOY", label: trajectory.finalDiagnosis,
                                     imageSHA: trajectory.imageSHA)
            for item in [try builder.diseaseItem(for: asked, pathTerms: terms, seed: 5), try builder.ddxItem(for: asked, seed: 5),
                         try builder.conditionItem(for: asked, seed: 5)] {
                let posed = try compact.posed(trajectory, as: item)
                #expect(posed.prompt == item.prompt && posed.imageSHA == trajectory.imageSHA)
                #expect(posed.id == trajectory.id + "-q")
                let reward = SkinR1Reward.score(answer: posed.target, item: item)
                #expect(reward.format == 1, "\(posed.target)")
                #expect(reward.granularity == GranularityReward.maximum)
                #expect(reward.total == 2.0, "\(item.kind): \(posed.target)")
                #expect(posed.target.contains(trajectory.thinking))
                // Judged: the same answer with every option judged before the letter, still the full reward.
                let judged = try compact.posed(trajectory, as: item, judgesOptions: true)
                #expect(judged.target.contains(trajectory.thinking + " "
                                               + PromptText.optionJudgement(item.options, answer: item.correctLetter)))
                #expect(SkinR1Reward.score(answer: judged.target, item: item).total == 2.0, "\(judged.target)")
            }
        }
        // A question about another image is refused.
        let nevus = cases.first { $0.label == "nevus" }!
        let trajectory = try await compact.synthesize(.direct, primary: nevus, cases: cases, seed: 4)
        let other = try builder.ddxItem(for: QuestionCase(caseID: "x", dataset: "TOY", label: "nevus", imageSHA: "another"), seed: 1)
        #expect(throws: TrajectoryError.self) { try compact.posed(trajectory, as: other) }
    }
}
