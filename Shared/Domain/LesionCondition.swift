/// The lesion condition malig(node) of METHOD 2.1: the three buckets every diagnosis falls in.
public enum LesionCondition: String, Codable, Sendable, CaseIterable, Comparable {
    case benign
    case malignant
    case precancerousInSitu = "precancerous_in_situ"

    /// How the condition is written in prompts and answers.
    public var text: String {
        switch self {
        case .benign: "benign"
        case .malignant: "malignant"
        case .precancerousInSitu: "precancerous in situ"
        }
    }

    /// Fixed order used wherever a tie must be broken (benign first, then malignant,
    /// then precancerous in situ), matching the option order of condition questions.
    public static let canonicalOrder: [LesionCondition] = [.benign, .malignant, .precancerousInSitu]

    public static func < (lhs: LesionCondition, rhs: LesionCondition) -> Bool {
        canonicalOrder.firstIndex(of: lhs)! < canonicalOrder.firstIndex(of: rhs)!
    }

    /// Reads a condition from free text: the raw value, its written form, or common
    /// spellings ("premalignant", "in-situ", "cancerous"). Nil when none or several
    /// different conditions are named.
    public static func mentioned(in text: String) -> LesionCondition? {
        let words = TextNormalizer.words(text)
        var found = Set<LesionCondition>()
        var index = 0
        while index < words.count {
            let word = words[index]
            let next = index + 1 < words.count ? words[index + 1] : ""
            switch word {
            case "precancerous", "premalignant", "precancer", "precancerousinsitu", "insitu":
                found.insert(.precancerousInSitu)
            case "pre" where next == "malignant" || next == "cancerous":
                found.insert(.precancerousInSitu)
                index += 1
            case "in" where next == "situ":
                found.insert(.precancerousInSitu)
                index += 1
            case "malignant", "malignancy", "cancerous", "cancer":
                found.insert(.malignant)
            case "benign":
                found.insert(.benign)
            default:
                break
            }
            index += 1
        }
        return found.count == 1 ? found.first : nil
    }
}

/// Text normalisation shared by alias lookup and answer parsing.
public enum TextNormalizer {
    /// Lower-cased words of letters and digits; every other character separates words.
    /// Apostrophes are dropped inside words so that "Bowen's" and "Bowens" agree.
    public static func words(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        for scalar in text.unicodeScalars {
            if scalar == "'" || scalar == "\u{2019}" { continue }
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                current.unicodeScalars.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else if !current.isEmpty {
                result.append(current)
                current = ""
            }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// The lookup key of a name: its words joined by single spaces ("Bowen's  disease" and
    /// "bowen_disease" both give "bowens disease" / "bowen disease").
    public static func key(_ text: String) -> String {
        words(text).joined(separator: " ")
    }
}
