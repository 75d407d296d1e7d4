import Foundation
import Testing
@testable import Domain

@Suite struct QuestionTests {
    let taxonomy: Taxonomy
    let builder: QuestionBuilder
    let cases: [QuestionCase]
    let terms: DatasetPathTerms

    init() throws {
        taxonomy = try Fixture.taxonomy()
        builder = QuestionBuilder(taxonomy: taxonomy, graph: Fixture.graph())
        cases = Fixture.cases()
        terms = DatasetPathTerms(cases: cases, taxonomy: taxonomy)
    }

    private func checkShape(_ item: QuestionItem, label: NodeID) {
        #expect(item.options.count == 4)
        #expect(item.letters == ["A", "B", "C", "D"])
        #expect(Set(item.options.compactMap(\.node)).count == 4, "options repeat a node")
        let path = taxonomy.path(to: label)
        #expect(item.path == path)
        for option in item.options {
            let node = option.node!
            #expect(node != taxonomy.root)
            #expect(!taxonomy.isAncestor(label, of: node), "a finer node than the label is a distractor")
            #expect((option.pathIndex != nil) == path.contains(node))
            #expect(option.granularityReward == (option.pathIndex == nil ? 0 : option.granularityReward))
        }
        // The correct option is the finest on P and earns exactly 0.75.
        let onPath = item.options.filter { $0.pathIndex != nil }
        let finest = onPath.max { $0.pathIndex! < $1.pathIndex! }!
        #expect(item.correctLetter == finest.letter)
        #expect(finest.granularityReward == 0.75)
        for option in onPath {
            #expect(option.granularityReward == 0.75 * Double(option.pathIndex!) / Double(finest.pathIndex!))
        }
        #expect(item.prompt.contains("A: \(item.options[0].text)"))
        #expect(item.prompt.contains("<final diagnosis>"))
    }

    @Test func rlPromptsAreReproducibleAndWellFormed() throws {
        for item in cases {
            let a = try builder.rlPrompt(for: item, pathTerms: terms, seed: 11)
            let b = try builder.rlPrompt(for: item, pathTerms: terms, seed: 11)
            #expect(a == b)
            #expect(a.purpose == .reinforcement)
            checkShape(a, label: item.label)
            let onPath = a.options.filter { $0.pathIndex != nil }.count
            #expect((1...3).contains(onPath))
        }
        // Another seed changes at least some items.
        let changed = try cases.filter { try builder.rlPrompt(for: $0, pathTerms: terms, seed: 11) != builder.rlPrompt(for: $0, pathTerms: terms, seed: 12) }
        #expect(!changed.isEmpty)
    }

    /// Offering the diagnosis: every RL prompt holds the label (its finest option, the full
    /// reward), still 1-3 options of the path and RL's purpose, and not the evaluation item
    /// of the same seed. Without it some prompts leave the label out.
    @Test func rlPromptsCanAlwaysOfferTheDiagnosis() throws {
        var withoutLabel = 0
        for item in cases {
            for seed: UInt64 in 1...6 {
                let offered = try builder.rlPrompt(for: item, pathTerms: terms, seed: seed, offeringDiagnosis: true)
                checkShape(offered, label: item.label)
                #expect(offered.purpose == .reinforcement)
                let correct = try #require(offered.options.first { $0.letter == offered.correctLetter })
                #expect(correct.node == item.label, "case \(item.caseID), seed \(seed): correct option \(correct.text)")
                #expect((1...3).contains(offered.options.filter { $0.pathIndex != nil }.count))
                #expect(offered.id != (try builder.diseaseItem(for: item, pathTerms: terms, seed: seed)).id)
                let drawn = try builder.rlPrompt(for: item, pathTerms: terms, seed: seed)
                if !drawn.options.contains(where: { $0.node == item.label }) { withoutLabel += 1 }
            }
        }
        #expect(withoutLabel > 0, "the reference draw leaves the label out of some prompts")
    }

    @Test func theInstructionsShowNoAnswerLetter() throws {
        // A letter after the answer tag anywhere in the prompt is one a policy can learn to
        // repeat for every question.
        for format in [AnswerFormat.letterAndCondition, .letterOnly] {
            let text = PromptText.instructions(for: format)
            #expect(text.contains(PromptText.finalOpen))
            let afterTag = text.components(separatedBy: PromptText.finalOpen).dropFirst()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(!afterTag.isEmpty)
            for rest in afterTag {
                #expect(!["A", "B", "C", "D"].contains { rest.hasPrefix($0) }, "instructions show a letter after the tag: \(rest)")
            }
        }
        let item = try builder.rlPrompt(for: cases[0], pathTerms: terms, seed: 5)
        #expect(item.prompt.components(separatedBy: PromptText.finalOpen).count == 2)
    }

    @Test func itemsSurviveAJSONRoundTrip() throws {
        let item = try builder.rlPrompt(for: cases[5], pathTerms: terms, seed: 3)
        let data = try JSONEncoder().encode(item)
        #expect(try JSONDecoder().decode(QuestionItem.self, from: data) == item)
    }

    @Test func evaluationDiseaseItemAlwaysOffersTheLabel() throws {
        for item in cases {
            let q = try builder.diseaseItem(for: item, pathTerms: terms, seed: 5)
            checkShape(q, label: item.label)
            #expect(q.option(q.correctLetter)?.node == item.label)
        }
    }

    @Test func distractorsComeFromTheDatasetAndTheTaxonomy() throws {
        // With no global share, every distractor is a path term of the same dataset.
        let localOnly = QuestionBuilder(taxonomy: taxonomy, graph: Fixture.graph(),
                                        config: QuestionBuilderConfig(globalDistractorShare: 0))
        let item = cases.first { $0.label == "ssm" }!
        let pool = Set(terms.terms(of: item.dataset))
        for seed in 0..<20 as Range<UInt64> {
            let q = try localOnly.rlPrompt(for: item, pathTerms: terms, seed: seed)
            for option in q.options where option.pathIndex == nil {
                #expect(pool.contains(option.node!))
            }
        }
        // With a full global share, distractors from outside the dataset appear.
        let globalOnly = QuestionBuilder(taxonomy: taxonomy, graph: Fixture.graph(),
                                         config: QuestionBuilderConfig(globalDistractorShare: 1))
        var outside = 0
        for seed in 0..<20 as Range<UInt64> {
            let q = try globalOnly.rlPrompt(for: item, pathTerms: terms, seed: seed)
            outside += q.options.filter { $0.pathIndex == nil && !pool.contains($0.node!) }.count
        }
        #expect(outside > 0)
    }

    @Test func pathLengthNormalisationIsTheAlternative() throws {
        let paper = QuestionBuilder(taxonomy: taxonomy, graph: Fixture.graph(),
                                    config: QuestionBuilderConfig(normalisation: .pathLength))
        let item = cases.first { $0.label == "ssm" }!
        for seed in 0..<10 as Range<UInt64> {
            let q = try paper.rlPrompt(for: item, pathTerms: terms, seed: seed)
            for option in q.options where option.pathIndex != nil {
                #expect(option.granularityReward == 0.75 * Double(option.pathIndex!) / 3)
            }
        }
        #expect(GranularityReward.optionRewards(options: ["melanoma", "bcc", nil], path: ["mel_malignant", "melanoma", "ssm"],
                                                normalisation: .finestOption) == [0.75, 0, 0])
        #expect(GranularityReward.optionRewards(options: ["melanoma", "mel_malignant"], path: ["mel_malignant", "melanoma", "ssm"],
                                                normalisation: .pathLength) == [0.5, 0.25])
    }

    @Test func placingTheAnswerMovesOnlyTheCorrectOption() throws {
        for item in cases {
            let original = try builder.diseaseItem(for: item, pathTerms: terms, seed: 5)
            for index in 0..<4 {
                let placed = original.placingAnswer(at: index)
                checkShape(placed, label: item.label)
                #expect(placed.correctLetter == QuestionBuilder.letters[index])
                #expect(placed.option(placed.correctLetter)?.node == item.label)
                let from = original.options.firstIndex { $0.letter == original.correctLetter }!
                for position in 0..<4 where position != index && position != from {
                    #expect(placed.options[position] == original.options[position], "an uninvolved option moved")
                }
                // The same choice earns the same reward wherever it stands.
                for option in original.options {
                    let moved = placed.options.first { $0.node == option.node }!
                    #expect(moved.granularityReward == option.granularityReward && moved.pathIndex == option.pathIndex)
                    let answer = "<thinking> x </thinking> <final diagnosis> \(moved.letter), \(placed.groundTruthCondition.text) </final diagnosis>"
                    let earlier = "<thinking> x </thinking> <final diagnosis> \(option.letter), \(original.groundTruthCondition.text) </final diagnosis>"
                    let now = SkinR1Reward.score(answer: answer, item: placed)
                    let before = SkinR1Reward.score(answer: earlier, item: original)
                    #expect(now.total == before.total && now.correct == before.correct && now.chosenLetter == moved.letter)
                }
                #expect(placed.prompt == PromptText.prompt(question: placed.question, options: placed.options, format: placed.answerFormat))
                #expect(placed.id == original.id)
            }
            #expect(original.placingAnswer(at: QuestionBuilder.letters.firstIndex(of: original.correctLetter)!) == original)
        }
        let condition = try builder.conditionItem(for: cases.first { $0.label == "ak" }!, seed: 1)
        #expect(condition.placingAnswer(at: 0) == condition, "condition options keep their fixed order")
    }

    @Test func conditionItemHasThreeFixedOptions() throws {
        let q = try builder.conditionItem(for: cases.first { $0.label == "ak" }!, seed: 1)
        #expect(q.options.map(\.text) == ["benign", "malignant", "precancerous in situ"])
        #expect(q.correctLetter == "C")
        #expect(q.answerFormat == .letterOnly)
        #expect(q.option("C")?.granularityReward == 0.75)
        let onlyCondition = builder.conditionItem(caseID: "x", dataset: "ISBI2016", imageSHA: "s", condition: .benign, seed: 1)
        #expect(onlyCondition.correctLetter == "A")
        #expect(onlyCondition.groundTruth == nil)
    }

    @Test func hierarchicalItemOffersAncestors() throws {
        let q = try builder.hierarchicalItem(for: cases.first { $0.label == "ssm" }!, seed: 4)
        checkShape(q, label: "ssm")
        let nodes = Set(q.options.compactMap(\.node))
        #expect(nodes.isSuperset(of: ["mel_malignant", "melanoma", "ssm"]))
        #expect(nodes.contains("nodular"), "the free slot holds the label's sibling")
        #expect(q.option(q.correctLetter)?.node == "ssm")
        let family = QuestionCase(caseID: "f", dataset: "TOY", label: "mel_benign", imageSHA: "s")
        #expect(throws: QuestionBuildError.self) { try builder.hierarchicalItem(for: family, seed: 1) }
    }

    @Test func ddxItemOffersGraphNeighboursThenTaxonomyFallback() throws {
        let q = try builder.ddxItem(for: cases.first { $0.label == "bowen" }!, seed: 4)
        checkShape(q, label: "bowen")
        let nodes = Set(q.options.compactMap(\.node))
        #expect(nodes.isSuperset(of: ["bowen", "ak", "scc"]))
        // blue_nevus has no neighbour: its parent's neighbour melanoma and melanoma's children come next.
        let fallback = try builder.ddxItem(for: cases.first { $0.label == "blue_nevus" }!, seed: 4)
        #expect(Set(fallback.options.compactMap(\.node)) == ["blue_nevus", "melanoma", "ssm", "nodular"])
    }

    @Test func oodItemUsesTheDatasetVocabulary() throws {
        let item = QuestionCase(caseID: "ood-1", dataset: "MPX", label: "bcc", imageSHA: "s")
        let q = try builder.oodItem(for: item, vocabulary: ["bcc", "scc", "ak", "melanoma"], seed: 2)
        #expect(Set(q.options.compactMap(\.node)) == ["bcc", "scc", "ak", "melanoma"])
        #expect(q.kind == .ood)
        #expect(q.option(q.correctLetter)?.node == "bcc")
    }

    @Test func unknownLabelIsAClearError() {
        let bad = QuestionCase(caseID: "c-9", dataset: "TOY", label: "unicorn_nevus", imageSHA: "s")
        do {
            _ = try builder.rlPrompt(for: bad, pathTerms: terms, seed: 1)
            Issue.record("an unknown label was accepted")
        } catch {
            #expect(error.code == .unknownLabel)
            #expect(error.description.contains("c-9") && error.description.contains("unicorn_nevus"))
        }
    }
}
