import Catalogue
import DataSynth
import Domain
import Foundation
import Pipeline
import PolicyRuntime
import Store

/// One example of the base model's general visual-language corpus: an image, a prompt and
/// the answer to imitate.
public struct VisualExample: Sendable, Equatable {
    public var imageSHA: String
    public var prompt: String
    public var answer: String
    /// A beginning of `answer` given as context, not learned (empty: the whole answer is
    /// learned). A probe feeds it after the prompt and lets the policy write the rest.
    public var given: String = ""
}

extension PromptCodec {
    /// `example` as a training sequence: its prompt, its whole answer, and the loss on the
    /// part of the answer after `given`.
    public func trainingSequence(_ example: VisualExample, reserve: Int) -> (tokens: [Int32], responseStart: Int) {
        trainingSequence(prompt: example.prompt, answer: example.answer, reserve: reserve, given: example.given)
    }
}

/// The base model's corpus, one pool per kind of batch.
public struct BaseCorpus: Sendable, Equatable {
    public var visual: [VisualExample]
    public var naming: [VisualExample]
    public var lookup: [VisualExample]
    /// Naming questions and drills per case, consecutive in their lists.
    public var variants: Int = 1

    public var all: [VisualExample] { visual + naming + lookup }
    /// The visual examples and the first variant of every naming question and drill: what
    /// the tokenizer learns from, whatever the number of variants.
    public var firstVariants: [VisualExample] {
        let first = { (list: [VisualExample]) in stride(from: 0, to: list.count, by: max(1, variants)).map { list[$0] } }
        return visual + first(naming) + first(lookup)
    }
}

/// What one case image shows, and where that knowledge came from.
public struct CaseAppearance: Sendable, Equatable {
    public var caseID: String
    public var imageSHA: String
    public var appearance: LesionAppearance
    /// The case's label at its dataset's granularity (nil for an unlabelled case).
    public var label: NodeID?
    /// The case's dataset (the textbook's for an exemplar).
    public var dataset: String

    public init(caseID: String, imageSHA: String, appearance: LesionAppearance, label: NodeID? = nil, dataset: String = "") {
        self.caseID = caseID
        self.imageSHA = imageSHA
        self.appearance = appearance
        self.label = label
        self.dataset = dataset
    }
}

/// How the appearances of the cases were obtained.
public enum AppearanceSource: String, Sendable {
    /// The synthetic corpus plan re-derived from the stored seed and scale (its fingerprint
    /// matches the stored one): exactly what was drawn for each case.
    case replannedCorpus = "replanned-corpus"
    /// The hallmarks of the drawn diagnosis's rule (midpoints of their ranges): what the
    /// rule prescribes, not the concrete draw.
    case ruleHallmarks = "rule-hallmarks"
    case mixed
}

/// The base model's pretraining corpus (pipeline contract, step 2): multiple-choice questions
/// about what is VISIBLE in case images (dominant colour, pigment network, dots, vessels,
/// scale, veil, surface, size), answered in the RL answer format, plus short feature
/// descriptions. It teaches the answer format and visual grounding; none of these questions
/// or answers names a diagnosis, a family or a lesion condition.
///
/// Optionally (`RunConfig.pretrainNamingShare`) the base also learns to name a case's label,
/// standing for the labelled dermatology images a generally pretrained vision-language model
/// has seen: only train-split and textbook images, only at their dataset's granularity,
/// asked in their own wording among other labels (`naming(for:labels:taxonomy:seed:variant:)`)
/// or as the case's disease question (`diseaseNaming`), as `RunConfig.pretrainNamingFormat` says.
///
/// Optionally (`RunConfig.pretrainLookupShare`) it also drills finding an option by its text
/// (`lookup(names:imageSHA:rng:)`, `answerDrill`): the skill of answering with the letter of
/// the option that names what the reasoning concluded, which the naming questions alone
/// teach slowly.
public enum VisualCorpus {
    /// Appearances of the cases the base may look at: textbook exemplars and the train split
    /// of the training datasets (never validation, test or OOD images), in id order.
    public static func appearances(on client: PostgresClient, knowledge: KnowledgeBase,
                                   limit: Int) async throws -> (cases: [CaseAppearance], source: AppearanceSource) {
        let rows = try await client.query("""
            SELECT c.id, c.dataset_id, c.image_sha256, c.node_id, c.metadata::text AS metadata,
                   d.metadata->>'seed' AS seed, d.metadata->>'scale' AS scale, d.metadata->>'fingerprint' AS fingerprint
            FROM cases c JOIN datasets d ON d.id = c.dataset_id
            WHERE d.role = 'textbook' OR (d.role = 'train' AND c.split = 'train')
            ORDER BY c.id
            """)
        let exact = try replanned(rows, knowledge: knowledge)
        var cases: [CaseAppearance] = []
        var usedExact = 0, usedRule = 0
        // Spread the limit evenly over the whole id range (ids begin with their dataset), so
        // every dataset and the textbook are seen rather than the first datasets only.
        for row in rows.evenlySpread(limit: limit) {
            let id: String = try row.decode("id")
            let sha: String = try row.decode("image_sha256")
            let labelNode = try row.decode("node_id", as: String?.self)
            let dataset: String = try row.decode("dataset_id")
            if let appearance = exact[id] {
                cases.append(CaseAppearance(caseID: id, imageSHA: sha, appearance: appearance, label: labelNode, dataset: dataset))
                usedExact += 1
                continue
            }
            let metadataText: String = try row.decode("metadata")
            let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(metadataText.utf8))) ?? [:]
            let node = metadata["drawn_diagnosis"] ?? labelNode
            guard let node, let rule = knowledge.rules[node] else { continue }
            cases.append(CaseAppearance(caseID: id, imageSHA: sha, appearance: midpoints(rule.hallmarks), label: labelNode,
                                        dataset: dataset))
            usedRule += 1
        }
        let source: AppearanceSource = usedRule == 0 ? .replannedCorpus : (usedExact == 0 ? .ruleHallmarks : .mixed)
        return (cases, source)
    }

    /// The concrete appearances of the synthetic cases, when the stored corpus is the plan of
    /// its stored seed and scale (fingerprints agree); empty otherwise.
    static func replanned(_ rows: [PostgresRow], knowledge: KnowledgeBase) throws -> [String: LesionAppearance] {
        var keys = Set<String>()
        var first: (seed: String, scale: String, fingerprint: String)?
        for row in rows {
            guard let seed = try row.decode("seed", as: String?.self),
                  let scale = try row.decode("scale", as: String?.self),
                  let fingerprint = try row.decode("fingerprint", as: String?.self) else { continue }
            keys.insert("\(seed)|\(scale)|\(fingerprint)")
            first = (seed, scale, fingerprint)
        }
        guard keys.count == 1, let first, let seed = UInt64(first.seed), let scale = CorpusScale(rawValue: first.scale),
              let plan = try? CorpusPlanner.plan(knowledge: knowledge, seed: seed, scale: scale),
              SyntheticCorpusWriter.fingerprint(of: plan) == first.fingerprint else { return [:] }
        var map: [String: LesionAppearance] = [:]
        for item in plan.allCases { map[item.id] = item.appearance }
        return map
    }

    /// A rule's hallmarks with every range narrowed to its midpoint.
    static func midpoints(_ hallmarks: LesionAppearance) -> LesionAppearance {
        var a = hallmarks
        func mid(_ r: ParameterRange) -> ParameterRange { ParameterRange(r.midpoint, r.midpoint) }
        a.asymmetry = mid(a.asymmetry)
        a.borderIrregularity = mid(a.borderIrregularity)
        a.sizeMillimetres = mid(a.sizeMillimetres)
        return a
    }

    public static let letters = ["A", "B", "C", "D"]

    /// Every question and the description the corpus asks about one case.
    public static func examples(for item: CaseAppearance, seed: UInt64) -> [VisualExample] {
        var rng = SplitMix64(seed: seed, stream: "visual:\(item.caseID)")
        let a = item.appearance
        let seen = AppearanceSampler.shown(a)
        let thinking = "\(PromptText.thinkingOpen) \(seen) \(PromptText.thinkingClose)"
        var out: [VisualExample] = []

        func ask(_ question: String, correct: String, others: [String]) {
            if let example = multipleChoice(question, correct: correct, others: others, thinking: seen,
                                            imageSHA: item.imageSHA, rng: &rng) {
                out.append(example)
            }
        }

        if let dominant = a.palette.first {
            ask("Which colour dominates the skin lesion in this image?", correct: dominant.text,
                others: PaletteColour.allCases.filter { !a.palette.contains($0) }.map(\.text))
        }
        ask("Which pigment network pattern does the lesion show?",
            correct: VisualHallmark.pigmentNetwork(a.pigmentNetwork).phrase,
            others: PigmentNetwork.allCases.map { VisualHallmark.pigmentNetwork($0).phrase })
        ask("Which dots or globules are visible in the lesion?",
            correct: VisualHallmark.dotsGlobules(a.dotsGlobules).phrase,
            others: DotsGlobules.allCases.map { VisualHallmark.dotsGlobules($0).phrase })
        ask("Which vessels are visible in the lesion?",
            correct: VisualHallmark.vessels(a.vessels).phrase,
            others: VesselType.allCases.map { VisualHallmark.vessels($0).phrase })
        ask("What scale or crust covers the lesion?",
            correct: VisualHallmark.scaleCrust(a.scaleCrust).phrase,
            others: ScaleCrust.allCases.map { VisualHallmark.scaleCrust($0).phrase })
        ask("Is a blue-white veil visible in the lesion?",
            correct: VisualHallmark.blueWhiteVeil(a.blueWhiteVeil).phrase,
            others: [true, false].map { VisualHallmark.blueWhiteVeil($0).phrase })
        ask("What does the surface of the lesion look like?",
            correct: VisualHallmark.surface(a.surface).phrase,
            others: LesionSurface.allCases.map { VisualHallmark.surface($0).phrase })
        let sizes = ["under 5 mm", "5 to 10 mm", "10 to 20 mm", "over 20 mm"]
        let size = a.sizeMillimetres.midpoint
        ask("About how large is the lesion?", correct: sizes[size < 5 ? 0 : size < 10 ? 1 : size < 20 ? 2 : 3], others: sizes)
        out.append(VisualExample(imageSHA: item.imageSHA,
                                 prompt: "Describe the visible features of the skin lesion in this image.",
                                 answer: thinking))
        return out
    }

    static let namingQuestion = "Which skin condition does this image show?"

    /// A multiple-choice question naming the case's label among three other labels of the
    /// corpus (`labels`): what the image shows, "These findings indicate <label>." (the words
    /// the trajectories conclude with), then the letter of the option that names it and the
    /// label's lesion condition, with the disease questions' instructions. So the base is
    /// trained as far into its context as RL and evaluation answers reach (the longest
    /// prompts and the condition after the letter come last), not only over the shorter
    /// feature questions. nil for an unlabelled case, the root, a label outside the
    /// taxonomy, or fewer than two labels in all.
    public static func naming(for item: CaseAppearance, labels: [NodeID], taxonomy: Taxonomy,
                              seed: UInt64, variant: Int = 0) -> VisualExample? {
        guard let label = item.label, taxonomy.contains(label), label != taxonomy.root else { return nil }
        var rng = SplitMix64(seed: seed, stream: stream("naming", item, variant))
        let thinking = conclusion(item, indicating: taxonomy.name(of: label))
        return multipleChoice(namingQuestion, correct: label, others: labels.filter { $0 != taxonomy.root },
                              text: { taxonomy.name(of: $0) }, thinking: thinking, condition: taxonomy.condition(of: label),
                              imageSHA: item.imageSHA, rng: &rng)
    }

    public static let lookupQuestion = "Which option names %@?"

    /// A text-only drill in finding an option by its text: four of `names` as options, the
    /// question names one of them, the reasoning repeats it as the disease answers conclude
    /// ("... indicates <name>."), then the letter of the option that names it. The image is
    /// irrelevant to the answer. nil with fewer than two names.
    public static func lookup(names: [String], imageSHA: String, rng: inout SplitMix64) -> VisualExample? {
        let distinct = Array(Set(names)).sorted()
        guard distinct.count >= 2 else { return nil }
        let target = distinct[rng.nextInt(below: distinct.count)]
        let thinking = "The question asks for \(target). The answer is the option that indicates \(target)."
        return multipleChoice(lookupQuestion.replacingOccurrences(of: "%@", with: target), correct: target,
                              others: distinct, thinking: thinking, imageSHA: imageSHA, rng: &rng)
    }

    /// A drill in answering a disease question with the option the reasoning concluded: the
    /// disease question of a labelled case as evaluation asks it (its stem, options drawn from
    /// the label's path and the dataset's path terms, the letter-and-condition instructions),
    /// a reasoning given as context (what the image shows, then "These findings indicate
    /// <name>." for one of the four options drawn at random), and to learn, the letter of
    /// that option and its lesion condition. The concluded option is random, so neither the
    /// image nor the options tell the letter; only finding the option the reasoning names
    /// does. The reasoning is given, not learned, so no conclusion against the image is
    /// taught. nil for an unlabelled case, the root or a label outside the taxonomy.
    /// With `checksOptions` the reasoning goes on after its conclusion by reading the options
    /// out up to the concluded one (`PromptText.optionCheck`), and that reading is learned too;
    /// with `judgesOptions` it judges every option (`PromptText.optionJudgement`), learned too.
    public static func answerDrill(for item: CaseAppearance, builder: QuestionBuilder, pathTerms: DatasetPathTerms,
                                   seed: UInt64, variant: Int = 0, checksOptions: Bool = false,
                                   judgesOptions: Bool = false) -> VisualExample? {
        guard let question = diseaseQuestion(for: item, builder: builder, pathTerms: pathTerms, kind: "answer-drill",
                                             seed: seed, variant: variant) else { return nil }
        var rng = SplitMix64(seed: seed, stream: stream("answer-drill", item, variant))
        let target = question.options[rng.nextInt(below: question.options.count)]
        let concluded = conclusion(item, indicating: target.text)
        // What the reasoning goes on with after its given conclusion, learned.
        let goesOn: String? = checksOptions ? PromptText.optionCheck(question.options, through: target.letter)
            : judgesOptions ? PromptText.optionJudgement(question.options, answer: target.letter) : nil
        return VisualExample(imageSHA: item.imageSHA, prompt: question.prompt,
                             answer: PromptText.answer(thinking: concluded + (goesOn.map { " " + $0 } ?? ""), letter: target.letter,
                                                       condition: target.condition ?? .benign),
                             given: "\(PromptText.thinkingOpen) \(concluded)" + (goesOn == nil ? " \(PromptText.thinkingClose)" : ""))
    }

    /// A naming question asked as the disease question of a labelled case (`diseaseQuestion`):
    /// what the image shows, "These findings indicate <label>.", with `judgesOptions` every
    /// option judged against the label (`PromptText.optionJudgement`), then the letter of the
    /// label's option and its condition, all learned. nil as `answerDrill`.
    public static func diseaseNaming(for item: CaseAppearance, builder: QuestionBuilder, pathTerms: DatasetPathTerms,
                                     seed: UInt64, variant: Int = 0, judgesOptions: Bool = false) -> VisualExample? {
        guard let label = item.label,
              let question = diseaseQuestion(for: item, builder: builder, pathTerms: pathTerms, kind: "disease-naming",
                                             seed: seed, variant: variant),
              let option = question.options.first(where: { $0.node == label }) else { return nil }
        let concluded = conclusion(item, indicating: option.text)
        let thinking = judgesOptions ? PromptText.judging(concluded, options: question.options, answer: option.letter) : concluded
        return VisualExample(imageSHA: item.imageSHA, prompt: question.prompt,
                             answer: PromptText.answer(thinking: thinking, letter: option.letter,
                                                       condition: question.groundTruthCondition))
    }

    /// What the case's image shows, then "These findings indicate <name>.": the reasoning the
    /// naming questions and drills write (the words the trajectories conclude with).
    static func conclusion(_ item: CaseAppearance, indicating name: String) -> String {
        "\(AppearanceSampler.shown(item.appearance)) These findings indicate \(name)."
    }

    /// The disease question of a labelled case as evaluation builds it, drawn from its own
    /// stream per `kind` and variant; nil for an unlabelled case, the root or a label outside
    /// the taxonomy.
    static func diseaseQuestion(for item: CaseAppearance, builder: QuestionBuilder, pathTerms: DatasetPathTerms,
                                kind: String, seed: UInt64, variant: Int) -> QuestionItem? {
        let taxonomy = builder.taxonomy
        guard let label = item.label, taxonomy.contains(label), label != taxonomy.root else { return nil }
        let asked = QuestionCase(caseID: item.caseID, dataset: item.dataset, label: label, imageSHA: item.imageSHA)
        return try? builder.diseaseItem(for: asked, pathTerms: pathTerms,
                                        seed: StableHash.fnv1a64("\(kind)|\(seed)|\(variant)"))
    }

    /// `variants` answer drills per labelled case among `cases` (`answerDrill`), with the
    /// path terms of the cases' own datasets as distractors.
    public static func answerDrills(for cases: [CaseAppearance], taxonomy: Taxonomy, graph: DDxGraph, seed: UInt64,
                                    variants: Int = 1, judgesOptions: Bool = false) -> [VisualExample] {
        askedAsDiseaseQuestions(cases, taxonomy: taxonomy, graph: graph, variants: variants) {
            answerDrill(for: $0, builder: $1, pathTerms: $2, seed: seed, variant: $3, judgesOptions: judgesOptions)
        }
    }

    /// `ask(case, builder, path terms, variant)` for `variants` variants of every case, with
    /// the path terms of the labelled cases' own datasets as distractors.
    static func askedAsDiseaseQuestions(_ cases: [CaseAppearance], taxonomy: Taxonomy, graph: DDxGraph, variants: Int,
                                        _ ask: (CaseAppearance, QuestionBuilder, DatasetPathTerms, Int) -> VisualExample?)
        -> [VisualExample] {
        let builder = QuestionBuilder(taxonomy: taxonomy, graph: graph)
        let labelled = cases.compactMap { item in
            item.label.flatMap { taxonomy.contains($0) && $0 != taxonomy.root ? $0 : nil }.map {
                QuestionCase(caseID: item.caseID, dataset: item.dataset, label: $0, imageSHA: item.imageSHA)
            }
        }
        let pathTerms = DatasetPathTerms(cases: labelled, taxonomy: taxonomy)
        return cases.flatMap { item in (0..<variants).compactMap { ask(item, builder, pathTerms, $0) } }
    }

    /// The drills of `format` (`lookups` or `answerDrills`).
    public static func drills(_ format: BaseQuestionFormat, for cases: [CaseAppearance], taxonomy: Taxonomy, graph: DDxGraph,
                              seed: UInt64, variants: Int = 1) -> [VisualExample] {
        switch format {
        case .plain: lookups(for: cases, taxonomy: taxonomy, seed: seed, variants: variants)
        case .disease, .judged:
            answerDrills(for: cases, taxonomy: taxonomy, graph: graph, seed: seed, variants: variants, judgesOptions: format.judgesOptions)
        }
    }

    /// A four-option question about one image: `correct` and up to three of `others` (never
    /// `correct` again), shuffled; `text` writes an option. Answered with the letter alone, or
    /// with the letter and `condition` in the disease questions' format when one is given.
    /// nil when there is no other option.
    static func multipleChoice(_ question: String, correct: String, others: [String],
                               text: (String) -> String = { $0 }, thinking: String, condition: LesionCondition? = nil,
                               imageSHA: String, rng: inout SplitMix64) -> VisualExample? {
        let distractors = rng.shuffled(Array(Set(others).subtracting([correct])).sorted()).prefix(3)
        guard !distractors.isEmpty else { return nil }
        let options = rng.shuffled([correct] + distractors)
        let letter = letters[options.firstIndex(of: correct)!]
        let offered = zip(letters, options).map {
            QuestionOption(letter: $0, text: text($1), node: nil, condition: nil, pathIndex: nil, granularityReward: 0)
        }
        let format: AnswerFormat = condition == nil ? .letterOnly : .letterAndCondition
        let prompt = PromptText.prompt(question: question, options: offered, format: format)
        return VisualExample(imageSHA: imageSHA, prompt: prompt,
                             answer: PromptText.answer(thinking: thinking, letter: letter, condition: condition))
    }

    /// The base's corpus over `cases`: the feature questions and descriptions, the naming
    /// questions (when `namingShare` is positive) and the lookup drills (when `lookupShare`
    /// is), kept apart so that batches can be drawn from one kind at a time.
    /// `variants` naming questions and drills per case, each with its own options and order.
    /// `namingFormat` and `drillFormat` say how the naming questions and the drills are asked.
    /// With `namingDepth` the naming questions name each label's family at that depth
    /// (`coarsened`) instead of the label; the drills keep the labels.
    public static func corpus(for cases: [CaseAppearance], taxonomy: Taxonomy, graph: DDxGraph, seed: UInt64,
                              namingShare: Double, lookupShare: Double, namingFormat: BaseQuestionFormat = .plain,
                              drillFormat: BaseQuestionFormat = .plain, namingDepth: Int? = nil,
                              variants: Int = 1) -> BaseCorpus {
        let named = namingDepth.map { depth in cases.map { coarsened($0, depth: depth, taxonomy: taxonomy) } } ?? cases
        let naming: [VisualExample] = switch (namingShare > 0, namingFormat) {
        case (false, _): []
        case (true, .plain): self.naming(for: named, taxonomy: taxonomy, seed: seed, variants: variants)
        case (true, .disease), (true, .judged):
            askedAsDiseaseQuestions(named, taxonomy: taxonomy, graph: graph, variants: variants) {
                diseaseNaming(for: $0, builder: $1, pathTerms: $2, seed: seed, variant: $3, judgesOptions: namingFormat.judgesOptions)
            }
        }
        return BaseCorpus(visual: cases.flatMap { examples(for: $0, seed: seed) },
                   naming: naming,
                   lookup: lookupShare > 0
                       ? drills(drillFormat, for: cases, taxonomy: taxonomy, graph: graph, seed: seed, variants: variants) : [],
                   variants: variants)
    }

    /// `item` with its label replaced by the label's family at `depth` (1: the taxonomy's
    /// top-level families) when the label lies deeper; otherwise `item` itself.
    public static func coarsened(_ item: CaseAppearance, depth: Int, taxonomy: Taxonomy) -> CaseAppearance {
        guard let label = item.label, depth >= 1 else { return item }
        let path = taxonomy.path(to: label)
        guard path.count > depth else { return item }
        var coarse = item
        coarse.label = path[depth - 1]
        return coarse
    }

    /// Naming questions and lookup drills the base draws per case. With one fixed question
    /// per image, its letter can be learnt from the image alone, which lowers the loss
    /// without finding the option that names the diagnosis; with several, each holding the
    /// answer at its own position, only the lookup pays.
    public static let baseVariants = 8

    /// The random stream of one variant of a case's question (variant 0 keeps the stream the
    /// single-question corpus always had).
    static func stream(_ kind: String, _ item: CaseAppearance, _ variant: Int) -> String {
        variant == 0 ? "\(kind):\(item.caseID)" : "\(kind):\(item.caseID):\(variant)"
    }

    /// `variants` lookup drills per labelled case among `cases`, on the case's image, over the
    /// names of the cases' labels and their families (the training label vocabulary, nothing else).
    public static func lookups(for cases: [CaseAppearance], taxonomy: Taxonomy, seed: UInt64,
                               variants: Int = 1) -> [VisualExample] {
        let nodes = Set(cases.compactMap(\.label).filter(taxonomy.contains).flatMap { taxonomy.path(to: $0) })
        let names = nodes.subtracting([taxonomy.root]).map { taxonomy.name(of: $0) }
        return cases.filter { $0.label != nil }.flatMap { item in
            (0..<variants).compactMap { variant in
                var rng = SplitMix64(seed: seed, stream: stream("lookup", item, variant))
                return lookup(names: names, imageSHA: item.imageSHA, rng: &rng)
            }
        }
    }

    /// `variants` naming questions of every labelled case among `cases`.
    public static func naming(for cases: [CaseAppearance], taxonomy: Taxonomy, seed: UInt64,
                              variants: Int = 1) -> [VisualExample] {
        let labels = Array(Set(cases.compactMap(\.label))).sorted()
        return cases.flatMap { item in
            (0..<variants).compactMap { naming(for: item, labels: labels, taxonomy: taxonomy, seed: seed, variant: $0) }
        }
    }
}
