/// The multiple-choice questions of METHOD section 4: RL prompts and evaluation items.

public enum QuestionKind: String, Codable, Sendable, CaseIterable {
    /// Disease diagnosis on an in-distribution dataset (RL prompts are of this kind).
    case disease
    /// Three-way lesion condition: benign, malignant, precancerous in situ.
    case lesionCondition = "lesion_condition"
    /// Distractors are ancestors of the ground truth.
    case hierarchical
    /// Distractors are DDx-graph neighbours of the ground truth.
    case ddx
    /// A dataset never used in training, with its own label vocabulary.
    case ood
}

public enum QuestionPurpose: String, Codable, Sendable {
    case reinforcement = "rl"
    case evaluation
}

/// What the `<final diagnosis>` tag must hold (METHOD 3.4).
public enum AnswerFormat: String, Codable, Sendable {
    /// `LETTER, condition` (disease questions).
    case letterAndCondition = "letter_and_condition"
    /// `LETTER` (condition questions, where the letter is the condition).
    case letterOnly = "letter_only"
}

/// How the granularity reward of a path option is normalised (METHOD 4).
public enum GranularityNormalisation: String, Codable, Sendable {
    /// Decision: 0.75 * i / i_max, i_max the depth of the finest path option present.
    case finestOption = "finest_option"
    /// The paper's literal 0.75 * i / L, L the length of the ground-truth path.
    case pathLength = "path_length"
}

public struct QuestionOption: Codable, Sendable, Equatable {
    public var letter: String
    public var text: String
    /// The taxonomy node the option names (nil for condition options).
    public var node: NodeID?
    /// The condition a condition option names, or the node's condition.
    public var condition: LesionCondition?
    /// Position i (1-based) of the option on the ground-truth path P, nil off the path.
    public var pathIndex: Int?
    /// R_gran earned by choosing this option.
    public var granularityReward: Double

    public init(letter: String, text: String, node: NodeID?, condition: LesionCondition?,
                pathIndex: Int?, granularityReward: Double) {
        self.letter = letter
        self.text = text
        self.node = node
        self.condition = condition
        self.pathIndex = pathIndex
        self.granularityReward = granularityReward
    }
}

/// One question about one image, with everything a scorer needs. This is the JSON shape
/// RL prompts and evaluation items travel and are stored in.
public struct QuestionItem: Codable, Sendable, Equatable {
    public var id: String
    public var kind: QuestionKind
    public var purpose: QuestionPurpose
    public var caseID: String
    public var dataset: String
    public var imageSHA: String
    /// The question stem.
    public var question: String
    public var options: [QuestionOption]
    /// The full text shown to the policy: stem, options and answer instructions.
    public var prompt: String
    /// The finest option on the ground-truth path (the answer counted by accuracy).
    public var correctLetter: String
    /// The label node (nil for condition-only cases).
    public var groundTruth: NodeID?
    public var groundTruthCondition: LesionCondition
    /// P = [l_1..l_L], coarsest first (empty for condition-only cases).
    public var path: [NodeID]
    public var answerFormat: AnswerFormat
    public var normalisation: GranularityNormalisation
    public var seed: UInt64

    public init(id: String, kind: QuestionKind, purpose: QuestionPurpose, caseID: String, dataset: String,
                imageSHA: String, question: String, options: [QuestionOption], prompt: String,
                correctLetter: String, groundTruth: NodeID?, groundTruthCondition: LesionCondition,
                path: [NodeID], answerFormat: AnswerFormat, normalisation: GranularityNormalisation, seed: UInt64) {
        self.id = id
        self.kind = kind
        self.purpose = purpose
        self.caseID = caseID
        self.dataset = dataset
        self.imageSHA = imageSHA
        self.question = question
        self.options = options
        self.prompt = prompt
        self.correctLetter = correctLetter
        self.groundTruth = groundTruth
        self.groundTruthCondition = groundTruthCondition
        self.path = path
        self.answerFormat = answerFormat
        self.normalisation = normalisation
        self.seed = seed
    }

    public var letters: [String] { options.map(\.letter) }
    public func option(_ letter: String) -> QuestionOption? { options.first { $0.letter == letter } }

    /// The same item asked for another purpose (an evaluation-shaped item as an RL prompt).
    public func asked(for purpose: QuestionPurpose) -> QuestionItem {
        var item = self
        item.purpose = purpose
        return item
    }

    /// This item with its correct option moved to position `index` (it swaps places with the
    /// option there); letters, prompt and correct letter follow, every option keeps its
    /// node, path index and reward. Lesion-condition items keep their fixed order (METHOD 4).
    public func placingAnswer(at index: Int) -> QuestionItem {
        guard kind != .lesionCondition, options.indices.contains(index),
              let from = options.firstIndex(where: { $0.letter == correctLetter }), from != index else { return self }
        var moved = options
        moved.swapAt(from, index)
        for position in moved.indices { moved[position].letter = options[position].letter }
        var item = self
        item.options = moved
        item.correctLetter = options[index].letter
        item.prompt = PromptText.prompt(question: question, options: moved, format: answerFormat)
        return item
    }
}

/// The answer instructions and question stems, in one place.
public enum PromptText {
    public static let thinkingOpen = "<thinking>"
    public static let thinkingClose = "</thinking>"
    public static let finalOpen = "<final diagnosis>"
    public static let finalClose = "</final diagnosis>"
    public static let diagnosisOpen = "<diagnosis>"
    public static let diagnosisClose = "</diagnosis>"

    public static func stem(for kind: QuestionKind) -> String {
        switch kind {
        case .disease, .ood:
            "Which diagnosis best fits the skin lesion in this image?"
        case .lesionCondition:
            "Is the skin lesion in this image benign, malignant or precancerous in situ?"
        case .hierarchical:
            "Several of these labels may describe the lesion at different levels of detail. Which is the most specific correct diagnosis?"
        case .ddx:
            "These diagnoses are easily confused with one another. Which one fits the lesion in this image?"
        }
    }

    /// The answer instructions. They describe the final answer without showing one: a
    /// worked example ("<final diagnosis> B, ...") puts a letter right after the answer tag
    /// in every prompt, and a policy that learns to continue the tag as it saw it earlier in
    /// its context answers that letter to every question.
    public static func instructions(for format: AnswerFormat) -> String {
        switch format {
        case .letterAndCondition:
            "First describe what you see and reason towards a diagnosis inside \(thinkingOpen) \(thinkingClose). "
                + "Then write the letter of exactly one option, a comma and the lesion condition (benign, malignant or "
                + "precancerous in situ) inside \(finalOpen) \(finalClose). "
                + "If more than one option is correct, choose the most specific one."
        case .letterOnly:
            "First describe what you see and reason about it inside \(thinkingOpen) \(thinkingClose). "
                + "Then write the letter of exactly one option inside \(finalOpen) \(finalClose)."
        }
    }

    /// An answer in the RL format: reasoning, then the letter (and the condition when the
    /// question asks for it) inside `<final diagnosis>`.
    public static func answer(thinking: String, letter: String, condition: LesionCondition?) -> String {
        let final = condition.map { "\(letter), \($0.text)" } ?? letter
        return "\(thinkingOpen) \(thinking) \(thinkingClose) \(finalOpen) \(final) \(finalClose)"
    }

    /// The options read out in order up to and including the one with `letter` ("Reading the
    /// options: A is Nevus, B is Melanoma."): written after a reasoning's conclusion, each
    /// option is compared with a name already written, and the letter to answer is the last
    /// one read.
    public static func optionCheck(_ options: [QuestionOption], through letter: String) -> String {
        let read = options.prefix { $0.letter != letter } + options.filter { $0.letter == letter }.prefix(1)
        return "Reading the options: " + read.map { "\($0.letter) is \($0.text)" }.joined(separator: ", ") + "."
    }

    static let optionJudgementOpening = "Checking the options:"

    /// Every option judged in turn against the answer ("Checking the options: A: Nevus, no;
    /// B: Melanoma, yes; C: ..., no; D: ..., no."): each judgement is made while the option's
    /// name is the word just written, and the letter to answer is then the one judged "yes" a
    /// few words back, which a small policy learns where finding an earlier option by its name
    /// alone it does not (`skinr1 bench lookup --judge`).
    public static func optionJudgement(_ options: [QuestionOption], answer letter: String) -> String {
        optionJudgementOpening + " "
            + options.map { "\($0.letter): \($0.text), \($0.letter == letter ? "yes" : "no")" }.joined(separator: "; ") + "."
    }

    /// `reasoning` followed by the judgement of every option (`optionJudgement`); the inverse
    /// of `beforeOptionJudgement`.
    public static func judging(_ reasoning: String, options: [QuestionOption], answer letter: String) -> String {
        reasoning + " " + optionJudgement(options, answer: letter)
    }

    /// The reasoning before its option judgement (`optionJudgement`); all of it without one.
    public static func beforeOptionJudgement(_ reasoning: String) -> String {
        reasoning.range(of: optionJudgementOpening).map { String(reasoning[..<$0.lowerBound]) } ?? reasoning
    }

    /// The full prompt: stem, one option per line ("A: text"), instructions.
    public static func prompt(question: String, options: [QuestionOption], format: AnswerFormat) -> String {
        ([question] + options.map { "\($0.letter): \($0.text)" } + [instructions(for: format)]).joined(separator: "\n")
    }

    /// The instruction of an SFT trajectory prompt (METHOD 3.4).
    public static let trajectoryInstruction =
        "Examine the skin lesion in this image and diagnose it. Reason from the visible findings inside "
        + "\(thinkingOpen) \(thinkingClose). Then give the diagnosis, its families in the taxonomy and its lesion "
        + "condition inside \(diagnosisOpen) \(diagnosisClose)."
}
