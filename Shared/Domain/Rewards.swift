/// The reward of METHOD section 5 (the paper's equations 5-8) and GRPO's group advantage
/// (METHOD 6.2, equations 3-4).

/// R_format (equation 6): 1 when every required tag is present, opened and closed, in order.
public enum FormatReward {
    public static let value = 1.0

    public static func score(_ parsed: ParsedAnswer) -> Double {
        parsed.formatValid ? value : 0
    }
}

/// R_gran (equation 7): the granularity reward of the chosen option; 0 off the path or when
/// no option was extracted.
public enum GranularityReward {
    public static let maximum = 0.75

    /// Rewards of options naming the given nodes (nil for a non-node option) against the
    /// ground-truth path P. An option that is l_i earns 0.75 * i / i_max (i_max the
    /// position of the finest option on P present) or, with `.pathLength`, 0.75 * i / L.
    public static func optionRewards(options: [NodeID?], path: [NodeID], normalisation: GranularityNormalisation) -> [Double] {
        let indices = options.map { node in node.flatMap { path.firstIndex(of: $0) }.map { $0 + 1 } }
        let iMax = indices.compactMap { $0 }.max() ?? 0
        let denominator = Double(normalisation == .finestOption ? iMax : path.count)
        return indices.map { index in
            guard let index, denominator > 0 else { return 0 }
            return maximum * Double(index) / denominator
        }
    }

    public static func score(item: QuestionItem, letter: String?) -> Double {
        guard let letter, let option = item.option(letter) else { return 0 }
        let reward = option.granularityReward
        return reward.isFinite ? min(max(reward, 0), maximum) : 0
    }
}

/// R_malignancy (equation 8): 0.25 when the stated condition is the label's condition. For
/// condition questions the chosen letter is the statement.
public enum MalignancyReward {
    public static let value = 0.25

    public static func statedCondition(item: QuestionItem, parsed: ParsedAnswer) -> LesionCondition? {
        switch item.answerFormat {
        case .letterAndCondition: parsed.condition
        case .letterOnly: parsed.letter.flatMap { item.option($0)?.condition }
        }
    }

    public static func score(item: QuestionItem, parsed: ParsedAnswer) -> Double {
        statedCondition(item: item, parsed: parsed) == item.groundTruthCondition ? value : 0
    }
}

/// The components of one answer's reward.
public struct RewardBreakdown: Codable, Sendable, Equatable {
    public var format: Double
    public var granularity: Double
    public var malignancy: Double
    public var total: Double
    public var chosenLetter: String?
    public var statedCondition: LesionCondition?
    /// Whether an option letter could be read (strict-format failures are those without).
    public var optionExtracted: Bool
    /// Whether the chosen option is the item's correct (finest) option, for accuracy.
    public var correct: Bool

    public init(format: Double, granularity: Double, malignancy: Double, chosenLetter: String?,
                statedCondition: LesionCondition?, correct: Bool) {
        self.format = format
        self.granularity = granularity
        self.malignancy = malignancy
        self.total = format + granularity + malignancy
        self.chosenLetter = chosenLetter
        self.statedCondition = statedCondition
        self.optionExtracted = chosenLetter != nil
        self.correct = correct
    }
}

/// R_total = R_format + R_gran + R_malignancy (equation 5), at most 2.
public enum SkinR1Reward {
    public static let maximum = FormatReward.value + GranularityReward.maximum + MalignancyReward.value

    public static func score(answer: String, item: QuestionItem, mode: ParseMode = .strict) -> RewardBreakdown {
        let parsed = AnswerParser.parse(answer, item: item, mode: mode)
        return score(parsed: parsed, item: item)
    }

    public static func score(parsed: ParsedAnswer, item: QuestionItem) -> RewardBreakdown {
        RewardBreakdown(format: FormatReward.score(parsed),
                        granularity: GranularityReward.score(item: item, letter: parsed.letter),
                        malignancy: MalignancyReward.score(item: item, parsed: parsed),
                        chosenLetter: parsed.letter,
                        statedCondition: MalignancyReward.statedCondition(item: item, parsed: parsed),
                        correct: parsed.letter != nil && parsed.letter == item.correctLetter)
    }
}

/// GRPO's group-normalised advantage: A_j = (r_j - mean(r)) / (std(r) + epsilon).
/// Decision: std is the population standard deviation (divide by K), so a group of one
/// or a group of equal rewards gets advantages of zero.
public enum GroupAdvantage {
    public static let epsilon = 1e-4

    public static func advantages(_ rewards: [Double], epsilon: Double = GroupAdvantage.epsilon) -> [Double] {
        guard !rewards.isEmpty else { return [] }
        let n = Double(rewards.count)
        let mean = rewards.reduce(0, +) / n
        let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let std = variance.squareRoot()
        return rewards.map { ($0 - mean) / (std + epsilon) }
    }
}
