import Foundation
import Domain
import Knowledge
import Pipeline
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
        // Percentiles of sorted values, as the learner logs them.
        #expect([3, 5, 8, 13].percentileOfSorted(50) == 8 && [3, 5, 8, 13].percentileOfSorted(100) == 13)
        #expect(Array(1...200).percentileOfSorted(99) == 199 && [Int]().percentileOfSorted(50) == 0)
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
            // Answered as the disease questions are: the letter, then the label's condition.
            #expect(parsed.formatValid && parsed.condition == taxonomy.condition(of: label), "\(question.answer)")
            #expect(lines.last == PromptText.instructions(for: .letterAndCondition))
            #expect(question.answer.contains("These findings indicate \(name). \(PromptText.thinkingClose)"))
            #expect(!question.prompt.contains(PromptText.stem(for: .disease)), "not the disease questions' wording")
        }
        #expect(letters.count >= 2, "the answer's position varies")
        // A lone label has nothing to be told apart from.
        #expect(VisualCorpus.naming(for: [cases[0]], taxonomy: taxonomy, seed: 7).isEmpty)
    }

    @Test func theSharesSetHowOftenABatchOfEachKindIsPicked() {
        let visual = (0..<5).map { VisualExample(imageSHA: "v\($0)", prompt: "p", answer: "a") }
        let naming = (0..<5).map { VisualExample(imageSHA: "n\($0)", prompt: VisualCorpus.namingQuestion, answer: "a") }
        let lookup = (0..<5).map { VisualExample(imageSHA: "l\($0)", prompt: "q", answer: "a") }
        /// Batches of each kind (first letter of the image) among 2,000; every batch is of one kind.
        func batches(naming: [VisualExample], _ namingShare: Double, lookup: [VisualExample] = [],
                     _ lookupShare: Double = 0) -> [Character: Int] {
            var rng = SplitMix64(seed: 1, stream: "pick")
            var counts: [Character: Int] = [:]
            let corpus = BaseCorpus(visual: visual, naming: naming, lookup: lookup)
            for _ in 0..<2000 {
                let batch = BaseModelBuilder.batch(4, corpus: corpus, namingShare: namingShare, lookupShare: lookupShare, rng: &rng)
                #expect(batch.count == 4)
                let kinds = Set(batch.map { $0.imageSHA.first! })
                #expect(kinds.count == 1, "one kind per batch")
                counts[kinds.first!, default: 0] += 1
            }
            return counts
        }
        #expect(batches(naming: naming, 0) == ["v": 2000])
        #expect(batches(naming: naming, 1) == ["n": 2000])
        #expect(batches(naming: [], 0.5) == ["v": 2000], "no questions to pick")
        let half = batches(naming: naming, 0.5)["n", default: 0]
        #expect(half > 900 && half < 1100, "\(half) of 2000")
        let mixed = batches(naming: naming, 0.5, lookup: lookup, 0.25)
        #expect((400...600).contains(mixed["l", default: 0]) && (900...1100).contains(mixed["n", default: 0]), "\(mixed)")
        let noDrills = batches(naming: naming, 0.5, lookup: [], 0.25)
        #expect((900...1100).contains(noDrills["n", default: 0]) && noDrills["l"] == nil, "no drills: their share is visual, \(noDrills)")
    }

    @Test func theLookupWarmupTrainsOnDrillsAloneThenTheMix() throws {
        var run = try RunConfig.profile("quick", arm: .skinR1)
        run.pretrainLookupShare = 0.2
        #expect(BaseModelBuilder.shares(at: 0, of: run) == (run.namingShare, 0.2), "no warm-up: the mix from the start")
        run.pretrainLookupWarmup = 100
        #expect(BaseModelBuilder.shares(at: 0, of: run) == (0, 1))
        #expect(BaseModelBuilder.shares(at: 99, of: run) == (0, 1))
        #expect(BaseModelBuilder.shares(at: 100, of: run) == (run.namingShare, 0.2))
        // The image-reading tensors are held still in the warm-up, then move by the run's share
        // (all of the rate when the run sets none).
        run.pretrainImageRateShare = nil
        run.pretrainNamingFormat = nil
        #expect(BaseModelBuilder.imageRateShare(at: 99, of: run) == 0 && BaseModelBuilder.imageRateShare(at: 100, of: run) == 1)
        run.pretrainImageRateShare = 0.1
        #expect(BaseModelBuilder.imageRateShare(at: 0, of: run) == 0 && BaseModelBuilder.imageRateShare(at: 100, of: run) == 0.1)
        run.pretrainLookupWarmup = nil
        #expect(BaseModelBuilder.imageRateShare(at: 0, of: run) == 0.1)
        // Every knob that changes the base changes its cache key.
        let key = BaseModelBuilder.cacheKey(run: run, corpusDigest: "d")
        run.pretrainImageRateShare = nil
        let plain = BaseModelBuilder.cacheKey(run: run, corpusDigest: "d")
        #expect(plain != key)
        run.pretrainNamingFormat = .disease
        #expect(BaseModelBuilder.cacheKey(run: run, corpusDigest: "d") != plain)
        run.pretrainNamingDepth = 2
        #expect(BaseModelBuilder.cacheKey(run: run, corpusDigest: "d") != BaseModelBuilder.cacheKey(
            run: try run.overriding(["pretrainNamingDepth=1"]), corpusDigest: "d"))
    }

    @Test func theLookupWarmupRunsAScheduleOfItsOwnThenTheMixRampsAgain() throws {
        var run = try RunConfig.profile("quick", arm: .skinR1)
        run.pretrainSteps = 1600
        run.pretrainLearningRate = 3e-4
        func lr(_ step: Int) -> Double { Double(BaseModelBuilder.learningRate(at: step, of: run)) }
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 + 1e-5 * abs(b) }
        // No warm-up: one ramp over the first 160 steps, then cosine down to a tenth.
        #expect(close(lr(0), 3e-4 / 160))
        #expect(close(lr(159), 3e-4))
        #expect(close(lr(1599), 3e-5) || lr(1599) < 3.01e-5)
        // A warm-up of 200 steps at 3e-3: its own ramp (20 steps) and decay to 3e-4, then the
        // mix's ramp over 140 of its 1,400 steps up to the base's 3e-4.
        run.pretrainLookupWarmup = 200
        run.pretrainLookupWarmupLearningRate = 3e-3
        #expect(close(lr(0), 3e-3 / 20))
        #expect(close(lr(19), 3e-3))
        #expect(lr(199) < 3.01e-4 && lr(199) > 2.99e-4)
        #expect(close(lr(200), 3e-4 / 140))
        #expect(close(lr(339), 3e-4))
        #expect(lr(1599) < 3.01e-5)
        // Without its own rate the warm-up peaks at the base's.
        run.pretrainLookupWarmupLearningRate = nil
        #expect(close(lr(19), 3e-4))
    }
}

@Suite("The base's lookup drills")
struct LookupDrillTests {
    @Test func aDrillAsksForOneOptionAndAnswersWithItsLetter() throws {
        let names = ["Melanoma", "Dermal nevus", "Basal cell carcinoma", "Dermatofibroma", "Actinic keratosis", "Melanoma"]
        var rng = SplitMix64(seed: 5, stream: "drills")
        var asked: Set<String> = [], answered: Set<String> = []
        for _ in 0..<40 {
            let drill = try #require(VisualCorpus.lookup(names: names, imageSHA: "img", rng: &rng))
            #expect(drill.imageSHA == "img")
            let lines = drill.prompt.split(separator: "\n").map(String.init)
            let target = try #require(lines.first.flatMap { $0.hasPrefix("Which option names ") ? String($0.dropFirst(19).dropLast()) : nil })
            #expect(Set(names).contains(target))
            let options = lines.filter { $0.count > 3 && $0.dropFirst().hasPrefix(": ") }
            #expect(options.count == 4 && Set(options.map { $0.dropFirst(3) }).count == 4, "four distinct names")
            let line = try #require(options.first { $0.hasSuffix(": \(target)") })
            let parsed = AnswerParser.parse(drill.answer, letters: VisualCorpus.letters)
            #expect(parsed.formatValid)
            #expect(parsed.letter == String(line.prefix(1)), "\(drill.prompt) => \(drill.answer)")
            #expect(drill.answer.contains("indicates \(target). \(PromptText.thinkingClose)"))
            asked.insert(target)
            answered.insert(String(line.prefix(1)))
        }
        #expect(asked.count >= 4 && answered == Set(VisualCorpus.letters), "targets and letters vary")
        #expect(VisualCorpus.lookup(names: ["Melanoma", "Melanoma"], imageSHA: "img", rng: &rng) == nil, "one name: nothing to look up")
    }

    @Test func drillsUseOnlyTheTrainingLabelsAndTheirFamilies() throws {
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let labels = try ["melanoma", "dermatofibroma", "actinic keratosis"].map { try #require(taxonomy.lookup($0)?.id) }
        let cases = labels.enumerated().map { NamingQuestionTests.appearance("case-\($0.offset)", label: $0.element) }
            + [NamingQuestionTests.appearance("unlabelled", label: nil)]
        let drills = VisualCorpus.lookups(for: cases, taxonomy: taxonomy, seed: 7)
        #expect(drills.count == 3, "one per labelled case")
        #expect(drills.map(\.imageSHA) == labels.indices.map { "sha-case-\($0)" })
        let allowed = Set(labels.flatMap { taxonomy.path(to: $0) }.filter { $0 != taxonomy.root }.map { taxonomy.name(of: $0) })
        for drill in drills {
            for line in drill.prompt.split(separator: "\n") where line.count > 3 && line.dropFirst().hasPrefix(": ") {
                #expect(allowed.contains(String(line.dropFirst(3))), "\(line)")
            }
        }
        #expect(VisualCorpus.lookups(for: cases, taxonomy: taxonomy, seed: 7) == drills, "seeded")
        let corpus = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0, lookupShare: 0.2)
        #expect(corpus.lookup == drills && corpus.naming.isEmpty)
        #expect(VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5, lookupShare: 0).lookup.isEmpty)
    }

    @Test func answerDrillsAskTheDiseaseQuestionAndTeachTheLetterOfTheConcludedOption() throws {
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let labels = try ["melanoma", "dermatofibroma", "actinic keratosis", "basal cell carcinoma"]
            .map { try #require(taxonomy.lookup($0)?.id) }
        let cases = labels.enumerated().map {
            var item = NamingQuestionTests.appearance("case-\($0.offset)", label: $0.element)
            item.dataset = $0.offset < 2 ? "synth-ham" : "synth-pad"
            return item
        } + [NamingQuestionTests.appearance("unlabelled", label: nil)]
        let drills = VisualCorpus.answerDrills(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, variants: 8)
        #expect(drills.count == 32, "eight per labelled case, none for the unlabelled one")
        #expect(VisualCorpus.answerDrills(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, variants: 8) == drills)
        #expect(VisualCorpus.drills(.disease, for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, variants: 8) == drills)
        let names = Dictionary(taxonomy.nonRootIDs.map { (taxonomy.name(of: $0), $0) }, uniquingKeysWith: { first, _ in first })
        var letters: Set<String> = [], concludedLabel = 0, concludedOther = 0
        for (index, drill) in drills.enumerated() {
            let label = labels[index / 8]
            let lines = drill.prompt.split(separator: "\n").map(String.init)
            #expect(lines.first == PromptText.stem(for: .disease), "the disease questions' wording")
            #expect(lines.last == PromptText.instructions(for: .letterAndCondition))
            let options = lines.filter { $0.count > 3 && $0.dropFirst().hasPrefix(": ") }
            #expect(options.count == 4)
            #expect(options.contains { $0.hasSuffix(": \(taxonomy.name(of: label))") }, "the label is an option, as in evaluation")
            // The reasoning is given; it concludes one of the options, and only the rest is learned.
            #expect(drill.answer.hasPrefix(drill.given) && drill.given.hasSuffix(PromptText.thinkingClose))
            let concluded = try #require(drill.given.components(separatedBy: "These findings indicate ").last?
                .components(separatedBy: ". \(PromptText.thinkingClose)").first)
            let line = try #require(options.first { $0.hasSuffix(": \(concluded)") }, "the conclusion is an option")
            let node = try #require(names[concluded])
            let parsed = AnswerParser.parse(drill.answer, letters: VisualCorpus.letters)
            #expect(parsed.formatValid && parsed.letter == String(line.prefix(1)), "\(drill.answer)")
            #expect(parsed.condition == taxonomy.condition(of: node), "the concluded option's condition")
            letters.insert(String(line.prefix(1)))
            if node == label { concludedLabel += 1 } else { concludedOther += 1 }
        }
        #expect(letters == Set(VisualCorpus.letters), "every letter is an answer somewhere")
        #expect(concludedLabel > 0 && concludedOther > concludedLabel, "the concluded option is drawn, not the label")
    }

    @Test func theOptionsAreReadOutUpToTheConcludedOne() throws {
        let options = zip(VisualCorpus.letters, ["Nevus", "Melanoma", "Wart", "Acne"]).map {
            QuestionOption(letter: $0, text: $1, node: nil, condition: nil, pathIndex: nil, granularityReward: 0)
        }
        #expect(PromptText.optionCheck(options, through: "A") == "Reading the options: A is Nevus.")
        #expect(PromptText.optionCheck(options, through: "C") == "Reading the options: A is Nevus, B is Melanoma, C is Wart.")
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        var item = NamingQuestionTests.appearance("case-0", label: try #require(taxonomy.lookup("melanoma")?.id))
        item.dataset = "synth-ham"
        let builder = QuestionBuilder(taxonomy: taxonomy, graph: knowledge.graph)
        let terms = DatasetPathTerms(cases: [QuestionCase(caseID: "case-0", dataset: "synth-ham", label: item.label!, imageSHA: "")],
                                     taxonomy: taxonomy)
        for variant in 0..<8 {
            let plain = try #require(VisualCorpus.answerDrill(for: item, builder: builder, pathTerms: terms, seed: 7, variant: variant))
            let checked = try #require(VisualCorpus.answerDrill(for: item, builder: builder, pathTerms: terms, seed: 7,
                                                                variant: variant, checksOptions: true))
            #expect(checked.prompt == plain.prompt)
            // The conclusion is given; the reading of the options and the letter are learned.
            #expect(plain.given == checked.given + " " + PromptText.thinkingClose)
            let letter = try #require(AnswerParser.parse(checked.answer, letters: VisualCorpus.letters).letter)
            #expect(letter == AnswerParser.parse(plain.answer, letters: VisualCorpus.letters).letter)
            let reading = try #require(checked.answer.components(separatedBy: "Reading the options: ").last?
                .components(separatedBy: ". \(PromptText.thinkingClose)").first)
            #expect(reading.components(separatedBy: ", ").last?.hasPrefix("\(letter) is ") == true, "\(reading)")
        }
    }

    @Test func namingQuestionsAskedAsDiseaseQuestionsConcludeTheLabel() throws {
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let (labels, labelled) = try Self.hamCases(["melanoma", "dermatofibroma", "actinic keratosis"])
        let cases = labelled + [NamingQuestionTests.appearance("unlabelled", label: nil)]
        let corpus = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5,
                                         lookupShare: 0, namingFormat: .disease, variants: 8)
        #expect(corpus.naming.count == 24, "eight per labelled case")
        var letters: Set<String> = []
        for (index, question) in corpus.naming.enumerated() {
            let label = labels[index / 8], name = taxonomy.name(of: label)
            let lines = question.prompt.split(separator: "\n").map(String.init)
            #expect(lines.first == PromptText.stem(for: .disease) && lines.last == PromptText.instructions(for: .letterAndCondition))
            let line = try #require(lines.first { $0.count > 3 && $0.dropFirst().hasPrefix(": ") && $0.hasSuffix(": \(name)") })
            let parsed = AnswerParser.parse(question.answer, letters: VisualCorpus.letters)
            #expect(parsed.formatValid && parsed.letter == String(line.prefix(1)) && parsed.condition == taxonomy.condition(of: label))
            #expect(question.answer.contains("These findings indicate \(name). \(PromptText.thinkingClose)"))
            #expect(question.given.isEmpty, "the whole answer is learned")
            letters.insert(String(line.prefix(1)))
        }
        #expect(letters.count >= 3, "the label's position varies over the variants")
        let plain = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5,
                                        lookupShare: 0, variants: 8)
        #expect(plain.naming.allSatisfy { $0.prompt.hasPrefix(VisualCorpus.namingQuestion) }, "plain keeps its own wording")
    }

    /// One labelled case of the dataset "synth-ham" per name, with the labels' ids.
    static func hamCases(_ names: [String]) throws -> (labels: [NodeID], cases: [CaseAppearance]) {
        let taxonomy = NamingQuestionTests.knowledge.taxonomy
        let labels = try names.map { try #require(taxonomy.lookup($0)?.id) }
        return (labels, labels.enumerated().map {
            var item = NamingQuestionTests.appearance("case-\($0.offset)", label: $0.element)
            item.dataset = "synth-ham"
            return item
        })
    }

    @Test func judgedNamingQuestionsJudgeEveryOptionAndAnswerTheOneJudgedYes() throws {
        let options = zip(VisualCorpus.letters, ["Nevus", "Melanoma", "Wart", "Acne"]).map {
            QuestionOption(letter: $0, text: $1, node: nil, condition: nil, pathIndex: nil, granularityReward: 0)
        }
        let judgement = PromptText.optionJudgement(options, answer: "B")
        #expect(judgement == "Checking the options: A: Nevus, no; B: Melanoma, yes; C: Wart, no; D: Acne, no.")
        #expect(PromptText.beforeOptionJudgement("These findings indicate Melanoma. " + judgement) == "These findings indicate Melanoma. ")
        #expect(PromptText.beforeOptionJudgement("No judgement here.") == "No judgement here.")

        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let (_, cases) = try Self.hamCases(["melanoma", "dermatofibroma", "actinic keratosis"])
        func corpus(_ format: BaseQuestionFormat) -> BaseCorpus {
            VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5,
                                lookupShare: 0.2, namingFormat: format, drillFormat: format, variants: 8)
        }
        let disease = corpus(.disease), judged = corpus(.judged)
        #expect(judged.naming.count == 24 && judged.lookup.count == 24)
        for (asked, plain) in zip(judged.naming, disease.naming) {
            // The same question and conclusion; the judgement follows the conclusion and says
            // "yes" to the option whose letter is the answer, and to no other.
            #expect(asked.prompt == plain.prompt && asked.given.isEmpty)
            let parsed = AnswerParser.parse(asked.answer, letters: VisualCorpus.letters)
            let letter = try #require(parsed.letter)
            #expect(parsed.formatValid && letter == AnswerParser.parse(plain.answer, letters: VisualCorpus.letters).letter)
            let reasoning = try #require(AnswerParser.reasoning(asked.answer))
            let offered = asked.prompt.split(separator: "\n").filter { $0.count > 3 && $0.dropFirst().hasPrefix(": ") }.map {
                QuestionOption(letter: String($0.prefix(1)), text: String($0.dropFirst(3)), node: nil, condition: nil,
                               pathIndex: nil, granularityReward: 0)
            }
            #expect(offered.count == 4)
            let concluded = try #require(AnswerParser.reasoning(plain.answer)).trimmingCharacters(in: .whitespaces)
            #expect(reasoning.trimmingCharacters(in: .whitespaces) == concluded + " " + PromptText.optionJudgement(offered, answer: letter))
        }
        for (drill, plain) in zip(judged.lookup, disease.lookup) {
            // The drill's conclusion stays given; its judgement and letter are learned.
            #expect(drill.prompt == plain.prompt && plain.given == drill.given + " " + PromptText.thinkingClose)
            let letter = try #require(AnswerParser.parse(drill.answer, letters: VisualCorpus.letters).letter)
            #expect(drill.answer.contains(", yes;") || drill.answer.contains(", yes."))
            #expect(drill.answer.contains("\(letter): ") && drill.answer.components(separatedBy: ", yes").count == 2)
        }
    }

    @Test func aNamingDepthNamesTheLabelsFamilyAndLeavesTheDrillsTheLabel() throws {
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let (labels, cases) = try Self.hamCases(["melanoma", "dermatofibroma", "actinic keratosis", "dermal nevus"])
        // Families at depth 1: the label's first node below the root; a label at depth 1 stays.
        for (item, label) in zip(cases, labels) {
            let family = try #require(taxonomy.path(to: label).first)
            #expect(VisualCorpus.coarsened(item, depth: 1, taxonomy: taxonomy).label == family)
            #expect(VisualCorpus.coarsened(item, depth: 9, taxonomy: taxonomy) == item, "a label shallower than the depth stays")
        }
        let benign = try #require(taxonomy.lookup("benign melanocytic lesion")?.id)
        var atFamily = cases[3]
        atFamily.label = benign
        #expect(VisualCorpus.coarsened(atFamily, depth: 1, taxonomy: taxonomy) == atFamily)
        #expect(VisualCorpus.coarsened(NamingQuestionTests.appearance("u", label: nil), depth: 1, taxonomy: taxonomy).label == nil)

        let corpus = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.8,
                                         lookupShare: 0.1, namingFormat: .judged, drillFormat: .judged, namingDepth: 1,
                                         variants: 8)
        #expect(corpus.naming.count == 32 && corpus.lookup.count == 32)
        for (index, question) in corpus.naming.enumerated() {
            let label = labels[index / 8]
            let family = taxonomy.name(of: taxonomy.path(to: label)[0])
            let parsed = AnswerParser.parse(question.answer, letters: VisualCorpus.letters)
            let letter = try #require(parsed.letter)
            let line = try #require(question.prompt.split(separator: "\n").first { $0.hasPrefix("\(letter): ") })
            #expect(line == "\(letter): \(family)", "the answer is the family: \(question.prompt)")
            #expect(question.answer.contains("These findings indicate \(family)."))
            // Nothing below the family is offered, so no finer name is ever judged wrong for its own image.
            let below = Set(taxonomy.descendants(of: taxonomy.path(to: label)[0]).map { taxonomy.name(of: $0) })
            #expect(!question.prompt.split(separator: "\n").contains { below.contains(String($0.dropFirst(3))) })
        }
        // The drills still ask the labels' own disease questions.
        let fine = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.8,
                                       lookupShare: 0.1, namingFormat: .judged, drillFormat: .judged, variants: 8)
        #expect(corpus.lookup == fine.lookup && corpus.visual == fine.visual && corpus.naming != fine.naming)
    }

    @Test func severalVariantsPerImageHoldTheAnswerAtDifferentLetters() throws {
        let knowledge = NamingQuestionTests.knowledge, taxonomy = knowledge.taxonomy
        let labels = try ["melanoma", "dermatofibroma", "actinic keratosis", "basal cell carcinoma"]
            .map { try #require(taxonomy.lookup($0)?.id) }
        let cases = labels.enumerated().map { NamingQuestionTests.appearance("case-\($0.offset)", label: $0.element) }
            + [NamingQuestionTests.appearance("unlabelled", label: nil)]
        let single = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5, lookupShare: 0.2)
        let many = VisualCorpus.corpus(for: cases, taxonomy: taxonomy, graph: knowledge.graph, seed: 7, namingShare: 0.5, lookupShare: 0.2, variants: 8)
        #expect(many.naming.count == 8 * single.naming.count && many.lookup.count == 8 * single.lookup.count)
        #expect(single.naming.count == 4 && single.lookup.count == 4, "one per labelled case")
        // The first variant of each case is the single-variant question, so the tokenizer's
        // sample does not depend on the number of variants.
        #expect(many.firstVariants == single.firstVariants)
        #expect(many.visual == single.visual)
        for list in [many.naming, many.lookup] {
            for (index, item) in cases.prefix(4).enumerated() {
                let variants = list[(index * 8)..<(index * 8 + 8)]
                #expect(variants.allSatisfy { $0.imageSHA == item.imageSHA })
                let letters = Set(variants.compactMap { AnswerParser.parse($0.answer, letters: VisualCorpus.letters).letter })
                #expect(letters.count >= 2, "the image alone does not give the letter: \(letters)")
                #expect(Set(variants.map(\.prompt)).count >= 2)
            }
        }
    }
}
