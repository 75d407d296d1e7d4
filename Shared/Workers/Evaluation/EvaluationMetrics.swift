import Domain

/// How one answer to one evaluation item was graded (strict parsing, METHOD.md 7).
public struct EvaluationOutcome: Sendable, Equatable {
    public var suite: EvaluationSuite
    public var datasetID: String
    public var correctLetter: String
    /// The option read from `<final diagnosis>`; nil is a strict-format failure.
    public var chosenLetter: String?
    /// The condition classes of lesion-condition items (nil for other suites).
    public var trueCondition: LesionCondition?
    public var predictedCondition: LesionCondition?
    /// The letters of the options the answer's reasoning names (`AnswerParser.namedOptions`).
    public var reasonedLetters: [String]

    public init(suite: EvaluationSuite, datasetID: String, correctLetter: String, chosenLetter: String?,
                trueCondition: LesionCondition? = nil, predictedCondition: LesionCondition? = nil,
                reasonedLetters: [String] = []) {
        self.reasonedLetters = reasonedLetters
        self.suite = suite
        self.datasetID = datasetID
        self.correctLetter = correctLetter
        self.chosenLetter = chosenLetter
        self.trueCondition = trueCondition
        self.predictedCondition = predictedCondition
    }

    /// Grades `answer` to `entry`'s item with the strict parser.
    public static func grade(_ entry: EvaluationSuiteItem, answer: String) -> EvaluationOutcome {
        let parsed = AnswerParser.parse(answer, item: entry.item, mode: .strict)
        let isCondition = entry.suite == .lesionCondition
        return EvaluationOutcome(
            suite: entry.suite, datasetID: entry.datasetID, correctLetter: entry.item.correctLetter,
            chosenLetter: parsed.letter,
            trueCondition: isCondition ? entry.item.groundTruthCondition : nil,
            predictedCondition: isCondition ? parsed.letter.flatMap { entry.item.option($0)?.condition } : nil,
            reasonedLetters: AnswerParser.reasoning(answer).map {
                // An option judgement names every option; what the reasoning concluded comes before it.
                AnswerParser.namedOptions(in: PromptText.beforeOptionJudgement($0), letters: entry.item.letters, optionTexts: entry.item.options.map(\.text))
            } ?? [])
    }

    public var isCorrect: Bool { chosenLetter == correctLetter }
    public var isFormatFailure: Bool { chosenLetter == nil }
    /// The reasoning names at least one of the options.
    public var reasoningNamesOption: Bool { !reasonedLetters.isEmpty }
    /// The chosen option is one the reasoning names: the letter follows the reasoning.
    public var choiceFollowsReasoning: Bool { chosenLetter.map(reasonedLetters.contains) ?? false }
    /// The reasoning names the correct option: the policy recognised the answer, whichever
    /// letter it then chose.
    public var reasoningNamesAnswer: Bool { reasonedLetters.contains(correctLetter) }
}

/// The metric names of `eval_results.metric`.
public enum EvaluationMetric: String, Sendable, CaseIterable {
    case accuracy
    case macroF1 = "macro_f1"
    case formatFailureRate = "format_failure_rate"
    /// Share of answers whose reasoning names at least one option.
    case namesOptionRate = "names_option_rate"
    /// Share of answers whose chosen option is one their reasoning names.
    case choiceFollowsReasoningRate = "choice_follows_reasoning_rate"
    /// Share of answers whose reasoning names the correct option.
    case namesAnswerRate = "names_answer_rate"
}

/// One value of `eval_results` for one suite and dataset (or the pooled "all").
public struct SuiteMetricValue: Sendable, Equatable {
    public var suite: String
    public var datasetID: String
    public var metric: EvaluationMetric
    public var value: Double
    public var items: Int

    public init(suite: String, datasetID: String, metric: EvaluationMetric, value: Double, items: Int) {
        self.suite = suite
        self.datasetID = datasetID
        self.metric = metric
        self.value = value
        self.items = items
    }
}

/// Accuracy, macro-F1, strict-format failure rate (METHOD.md 7), and how often the reasoning
/// names an option, names the correct one, and the choice is one it names. Pure.
public enum EvaluationMetrics {
    /// The dataset (and suite) name of pooled rows.
    public static let pooled = "all"

    public static func accuracy(_ outcomes: [EvaluationOutcome]) -> Double {
        share(outcomes, \.isCorrect)
    }

    public static func formatFailureRate(_ outcomes: [EvaluationOutcome]) -> Double {
        share(outcomes, \.isFormatFailure)
    }

    /// The share of `outcomes` for which `property` holds (0 for none).
    static func share(_ outcomes: [EvaluationOutcome], _ property: (EvaluationOutcome) -> Bool) -> Double {
        outcomes.isEmpty ? 0 : Double(outcomes.filter(property).count) / Double(outcomes.count)
    }

    /// Mean over classes of F1 = 2TP / (2TP + FP + FN). A failed answer (no prediction) is a
    /// false negative of its true class. Classes that occur neither in the truth nor in the
    /// predictions are left out of the mean (they have no defined F1), as scikit-learn does.
    public static func macroF1(truth: [LesionCondition], predicted: [LesionCondition?]) -> Double {
        precondition(truth.count == predicted.count, "macroF1: one prediction per true class")
        let classes = LesionCondition.canonicalOrder.filter { c in truth.contains(c) || predicted.contains(c) }
        guard !classes.isEmpty else { return 0 }
        let scores = classes.map { c -> Double in
            var tp = 0, fp = 0, fn = 0
            for (t, p) in zip(truth, predicted) {
                if t == c && p == c { tp += 1 } else if p == c { fp += 1 } else if t == c { fn += 1 }
            }
            let denominator = 2 * tp + fp + fn
            return denominator == 0 ? 0 : Double(2 * tp) / Double(denominator)
        }
        return scores.reduce(0, +) / Double(scores.count)
    }

    /// Every value the evaluator stores: per suite and dataset, per suite pooled over its
    /// datasets ("all"), and over every item ("all", "all": accuracy and format failures).
    /// Lesion-condition groups also get macro-F1.
    public static func summarize(_ outcomes: [EvaluationOutcome]) -> [SuiteMetricValue] {
        var values: [SuiteMetricValue] = []
        func add(_ suite: String, _ dataset: String, _ group: [EvaluationOutcome], f1: Bool) {
            values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .accuracy,
                                           value: accuracy(group), items: group.count))
            values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .formatFailureRate,
                                           value: formatFailureRate(group), items: group.count))
            values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .namesOptionRate,
                                           value: share(group, \.reasoningNamesOption), items: group.count))
            values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .choiceFollowsReasoningRate,
                                           value: share(group, \.choiceFollowsReasoning), items: group.count))
            values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .namesAnswerRate,
                                           value: share(group, \.reasoningNamesAnswer), items: group.count))
            if f1 {
                let truth = group.compactMap(\.trueCondition)
                let predicted = group.filter { $0.trueCondition != nil }.map(\.predictedCondition)
                values.append(SuiteMetricValue(suite: suite, datasetID: dataset, metric: .macroF1,
                                               value: macroF1(truth: truth, predicted: predicted), items: group.count))
            }
        }
        let bySuite = Dictionary(grouping: outcomes, by: \.suite)
        for suite in bySuite.keys.sorted() {
            let group = bySuite[suite]!
            let f1 = suite == .lesionCondition
            let byDataset = Dictionary(grouping: group, by: \.datasetID)
            for dataset in byDataset.keys.sorted() {
                add(suite.rawValue, dataset, byDataset[dataset]!, f1: f1)
            }
            add(suite.rawValue, pooled, group, f1: f1)
        }
        if !outcomes.isEmpty {
            add(pooled, pooled, outcomes, f1: false)
        }
        return values
    }
}
