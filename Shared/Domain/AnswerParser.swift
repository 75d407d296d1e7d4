/// Reading an option letter and a lesion condition out of a model's answer (METHOD 3.4, 5).
/// Both modes accept any string and never trap.

public enum ParseMode: String, Codable, Sendable {
    /// Tags required: the letter is read only inside `<final diagnosis> ... </final diagnosis>`.
    case strict
    /// For external baselines: tags preferred, else explicit "answer: X" phrases, lone
    /// capital letters, or the text of exactly one option.
    case lenient
}

public struct ParsedAnswer: Codable, Sendable, Equatable {
    /// Every required tag is present exactly once, opened and closed, in order.
    public var formatValid: Bool
    /// The chosen option letter, nil when none or more than one could be read.
    public var letter: String?
    /// The condition the answer states, nil when none or several different ones.
    public var condition: LesionCondition?

    public init(formatValid: Bool, letter: String?, condition: LesionCondition?) {
        self.formatValid = formatValid
        self.letter = letter
        self.condition = condition
    }
}

public enum AnswerParser {
    /// Parses an answer to a question with the given option letters and texts.
    public static func parse(_ answer: String, letters: [String], optionTexts: [String] = [],
                             mode: ParseMode = .strict) -> ParsedAnswer {
        let formatValid = hasRequiredTags(answer)
        let content = taggedContent(answer, open: PromptText.finalOpen, close: PromptText.finalClose)
        switch mode {
        case .strict:
            guard let content else { return ParsedAnswer(formatValid: formatValid, letter: nil, condition: nil) }
            return ParsedAnswer(formatValid: formatValid, letter: singleLetter(in: content, letters: letters),
                                condition: LesionCondition.mentioned(in: content))
        case .lenient:
            let region = content
                ?? taggedContent(answer, open: PromptText.diagnosisOpen, close: PromptText.diagnosisClose)
                ?? taggedContent(answer, open: "<answer>", close: "</answer>")
            let text = region ?? answer
            let letter = announcedLetter(in: text, letters: letters)
                ?? singleLetter(in: text, letters: letters)
                ?? optionByText(in: text, letters: letters, optionTexts: optionTexts)
            return ParsedAnswer(formatValid: formatValid, letter: letter, condition: LesionCondition.mentioned(in: text))
        }
    }

    public static func parse(_ answer: String, item: QuestionItem, mode: ParseMode = .strict) -> ParsedAnswer {
        parse(answer, letters: item.letters, optionTexts: item.options.map(\.text), mode: mode)
    }

    /// R_format's condition: `<thinking>`, `</thinking>`, `<final diagnosis>`,
    /// `</final diagnosis>` each occur exactly once and in this order.
    public static func hasRequiredTags(_ answer: String) -> Bool {
        let tags = [PromptText.thinkingOpen, PromptText.thinkingClose, PromptText.finalOpen, PromptText.finalClose]
        var previousEnd = answer.startIndex
        for tag in tags {
            let hits = ranges(of: tag, in: answer)
            guard hits.count == 1, hits[0].lowerBound >= previousEnd else { return false }
            previousEnd = hits[0].upperBound
        }
        return true
    }

    /// The text between the first `open` tag and the next `close` tag, if both exist.
    public static func taggedContent(_ text: String, open: String, close: String) -> String? {
        guard let start = ranges(of: open, in: text).first else { return nil }
        let rest = String(text[start.upperBound...])
        guard let end = ranges(of: close, in: rest).first else { return nil }
        return String(rest[rest.startIndex..<end.lowerBound])
    }

    /// The single option letter standing alone (not part of a word) in the text; nil when
    /// there is none or more than one distinct letter.
    static func singleLetter(in text: String, letters: [String]) -> String? {
        let valid = Set(letters)
        var found = Set<String>()
        let characters = Array(text)
        for (index, character) in characters.enumerated() where valid.contains(String(character)) {
            let before = index > 0 ? characters[index - 1] : " "
            let after = index + 1 < characters.count ? characters[index + 1] : " "
            if !isWordCharacter(before) && !isWordCharacter(after) { found.insert(String(character)) }
        }
        return found.count == 1 ? found.first : nil
    }

    /// A letter announced as "answer: X", "answer is (X)", "option X", "choice X"; the last
    /// announcement wins. Case-insensitive.
    static func announcedLetter(in text: String, letters: [String]) -> String? {
        let words = TextNormalizer.words(text)
        let valid = Dictionary(letters.map { ($0.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        var result: String?
        for (index, word) in words.enumerated() where ["answer", "option", "choice"].contains(word) {
            var next = index + 1
            while next < words.count, ["is", "would", "be", "the", "correct", "final"].contains(words[next]) { next += 1 }
            if next < words.count, let letter = valid[words[next]] { result = letter }
        }
        return result
    }

    /// The letter of the one option whose text the answer names (`namedOptions`).
    static func optionByText(in text: String, letters: [String], optionTexts: [String]) -> String? {
        let named = namedOptions(in: text, letters: letters, optionTexts: optionTexts)
        return named.count == 1 ? named[0] : nil
    }

    /// The letters of the options whose text `text` names, as whole words and ignoring case
    /// and punctuation, in option order. When one named option's text contains another's
    /// ("nodular melanoma" and "melanoma"), only the longer one counts.
    public static func namedOptions(in text: String, letters: [String], optionTexts: [String]) -> [String] {
        let haystack = " " + TextNormalizer.key(text) + " "
        let keys = optionTexts.map(TextNormalizer.key)
        var named: [Int] = []
        for (index, key) in keys.enumerated() where !key.isEmpty && index < letters.count {
            if haystack.contains(" " + key + " ") { named.append(index) }
        }
        return named.filter { i in !named.contains { j in j != i && keys[j].count > keys[i].count && keys[j].contains(keys[i]) } }
            .map { letters[$0] }
    }

    /// The reasoning of an answer: the text inside `<thinking> </thinking>`, nil without both tags.
    public static func reasoning(_ answer: String) -> String? {
        taggedContent(answer, open: PromptText.thinkingOpen, close: PromptText.thinkingClose)
    }

    private static func isWordCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber
    }

    /// Non-overlapping occurrences of `needle`, compared character by character.
    static func ranges(of needle: String, in text: String) -> [Range<String.Index>] {
        guard !needle.isEmpty else { return [] }
        var result: [Range<String.Index>] = []
        var searchStart = text.startIndex
        let first = needle.first!
        while searchStart < text.endIndex {
            guard let candidate = text[searchStart...].firstIndex(of: first) else { break }
            if text[candidate...].hasPrefix(needle) {
                let end = text.index(candidate, offsetBy: needle.count)
                result.append(candidate..<end)
                searchStart = end
            } else {
                searchStart = text.index(after: candidate)
            }
        }
        return result
    }
}
