import Testing
@testable import Domain

@Suite struct ParsingAndRewardTests {
    let item: QuestionItem
    let conditionItem: QuestionItem

    init() throws {
        let taxonomy = try Fixture.taxonomy()
        let builder = QuestionBuilder(taxonomy: taxonomy, graph: Fixture.graph())
        let cases = Fixture.cases()
        let terms = DatasetPathTerms(cases: cases, taxonomy: taxonomy)
        item = try builder.diseaseItem(for: cases.first { $0.label == "ssm" }!, pathTerms: terms, seed: 21)
        conditionItem = try builder.conditionItem(for: cases.first { $0.label == "bowen" }!, seed: 21)
    }

    private func answer(_ final: String, thinking: String = "asymmetric, several colours") -> String {
        "<thinking> \(thinking) </thinking> <final diagnosis> \(final) </final diagnosis>"
    }

    @Test func strictParsingNeedsTagsInOrder() {
        let good = AnswerParser.parse(answer("B, malignant"), letters: ["A", "B", "C", "D"])
        #expect(good == ParsedAnswer(formatValid: true, letter: "B", condition: .malignant))
        let reversed = AnswerParser.parse("<final diagnosis> B </final diagnosis> <thinking> x </thinking>", letters: ["A", "B"])
        #expect(!reversed.formatValid)
        #expect(reversed.letter == "B")
        let noTags = AnswerParser.parse("The answer is B, malignant.", letters: ["A", "B", "C", "D"])
        #expect(noTags == ParsedAnswer(formatValid: false, letter: nil, condition: nil))
        let twice = answer("A") + " <final diagnosis> B </final diagnosis>"
        #expect(!AnswerParser.hasRequiredTags(twice))
        let unclosed = "<thinking> x </thinking> <final diagnosis> B"
        #expect(AnswerParser.parse(unclosed, letters: ["A", "B"]).letter == nil)
    }

    @Test func ambiguousLettersAreNotExtracted() {
        #expect(AnswerParser.parse(answer("A or B, malignant"), letters: ["A", "B", "C", "D"]).letter == nil)
        #expect(AnswerParser.parse(answer("(C): Bowen disease"), letters: ["A", "B", "C", "D"]).letter == "C")
        #expect(AnswerParser.parse(answer("BCC"), letters: ["A", "B", "C", "D"]).letter == nil)
        #expect(AnswerParser.parse(answer("E"), letters: ["A", "B", "C", "D"]).letter == nil)
    }

    @Test func lenientParsingReadsPlainAnswers() {
        let letters = ["A", "B", "C", "D"]
        let texts = ["Melanoma", "Nodular melanoma", "Basal cell carcinoma", "Lentigo"]
        #expect(AnswerParser.parse("I would say the answer is (c), malignant.", letters: letters, optionTexts: texts, mode: .lenient).letter == "C")
        #expect(AnswerParser.parse("This looks like a nodular melanoma.", letters: letters, optionTexts: texts, mode: .lenient).letter == "B")
        #expect(AnswerParser.parse("Option D.", letters: letters, optionTexts: texts, mode: .lenient).letter == "D")
        #expect(AnswerParser.parse("<diagnosis> A </diagnosis>", letters: letters, optionTexts: texts, mode: .lenient).letter == "A")
        #expect(AnswerParser.parse("melanoma or lentigo", letters: letters, optionTexts: texts, mode: .lenient).letter == nil)
        #expect(AnswerParser.parse("This lesion is benign.", letters: letters, optionTexts: texts, mode: .lenient).condition == .benign)
    }

    @Test func fullRewardForTheFinestOptionAndCondition() {
        let r = SkinR1Reward.score(answer: answer("\(item.correctLetter), malignant"), item: item)
        #expect(r.format == 1)
        #expect(r.granularity == 0.75)
        #expect(r.malignancy == 0.25)
        #expect(r.total == 2)
        #expect(r.correct)
        #expect(r.optionExtracted)
    }

    @Test func rewardPerOptionMatchesTheOption() {
        for option in item.options {
            let r = SkinR1Reward.score(answer: answer("\(option.letter), benign"), item: item)
            #expect(r.granularity == option.granularityReward)
            #expect(r.malignancy == 0)
            #expect(r.correct == (option.letter == item.correctLetter))
        }
        let noFormat = SkinR1Reward.score(answer: "<final diagnosis> \(item.correctLetter), malignant </final diagnosis>", item: item)
        #expect(noFormat.format == 0 && noFormat.granularity == 0.75 && noFormat.malignancy == 0.25)
    }

    @Test func conditionQuestionsScoreTheLetter() {
        let right = SkinR1Reward.score(answer: answer("C"), item: conditionItem)
        #expect(right.total == 2)
        #expect(right.statedCondition == .precancerousInSitu)
        let wrong = SkinR1Reward.score(answer: answer("B"), item: conditionItem)
        #expect(wrong.total == 1)
    }

    @Test func randomAnswersStayInRangeAndGarbageEarnsNothing() {
        var rng = SplitMix64(seed: 99)
        let pieces = ["<thinking>", "</thinking>", "<final diagnosis>", "</final diagnosis>", "A", "B", "C", "D", ", ",
                      "malignant", "benign", "precancerous in situ", "melanoma", " ", "\n", "(", ")", "é", "🙂", "<", ">", "/"]
        for _ in 0..<3000 {
            let text = (0..<rng.nextInt(in: 0...14)).map { _ in rng.pick(pieces)! }.joined()
            for q in [item, conditionItem] {
                for mode in [ParseMode.strict, .lenient] {
                    let r = SkinR1Reward.score(answer: text, item: q, mode: mode)
                    #expect(r.total >= 0 && r.total <= 2)
                    #expect([0.0, 1.0].contains(r.format))
                    #expect([0.0, 0.25].contains(r.malignancy))
                    #expect(r.granularity >= 0 && r.granularity <= 0.75)
                }
            }
        }
    }

    @Test func randomBytesNeverCrashAndEarnZero() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<2000 {
            let bytes = (0..<rng.nextInt(in: 0...200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let text = String(decoding: bytes, as: UTF8.self)
            let strict = SkinR1Reward.score(answer: text, item: item)
            #expect(strict.total == 0 || text.contains("<final diagnosis>"))
            let lenient = SkinR1Reward.score(answer: text, item: item, mode: .lenient)
            #expect(lenient.total >= 0 && lenient.total <= 2)
        }
        for garbage in ["", "<", "</final diagnosis><final diagnosis>", String(repeating: "<thinking>", count: 500), "\u{0}\u{FFFD}"] {
            #expect(SkinR1Reward.score(answer: garbage, item: item).total == 0)
        }
    }

    @Test func groupAdvantageIsNormalised() {
        let a = GroupAdvantage.advantages([2, 1, 1, 0])
        #expect(abs(a.reduce(0, +)) < 1e-9)
        let std = (0.5 as Double).squareRoot()
        #expect(abs(a[0] - 1 / (std + 1e-4)) < 1e-9)
        #expect(GroupAdvantage.advantages([1.5, 1.5, 1.5]) == [0, 0, 0])
        #expect(GroupAdvantage.advantages([]).isEmpty)
        #expect(GroupAdvantage.advantages([0.7]) == [0])
    }
}
