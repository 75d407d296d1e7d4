/// SkinRationale trajectory synthesis (METHOD 3.3, 3.4).

/// A textbook exemplar (I_i, r_i, d_i) of D_case: an image, its diagnosis and, when the
/// textbook gives one, its rationale r_i (what the image shows and why that fits d_i). The
/// full trajectories reason from the diagnosis's rule in the knowledge.
public struct TextbookCase: Codable, Sendable, Hashable {
    public var caseID: String
    public var imageSHA: String
    public var label: NodeID
    public var rationale: String?

    public init(caseID: String, imageSHA: String, label: NodeID, rationale: String? = nil) {
        self.caseID = caseID
        self.imageSHA = imageSHA
        self.label = label
        self.rationale = rationale
    }

    /// The rationale's opening sentence when it says what the image shows ("The image
    /// shows ... ."): the findings of this very image, in the words the policy's own
    /// descriptions use. nil without such a sentence.
    public var observation: String? {
        guard let rationale, rationale.hasPrefix(VisualHallmark.imageShowsOpening) else { return nil }
        guard let end = rationale.range(of: ". ") else { return rationale.hasSuffix(".") ? rationale : nil }
        return String(rationale[..<end.lowerBound]) + "."
    }
}

public enum TrajectoryType: Int, Codable, Sendable, CaseIterable {
    /// Rationale, then the diagnosis with its taxonomy and condition.
    case direct = 1
    /// Primary diagnosis compared with a DDx neighbour, kept.
    case differential = 2
    /// Starts from the neighbour's (wrong) diagnosis and revises to the true one.
    case revision = 3
}

public struct Trajectory: Codable, Sendable, Equatable {
    public var id: String
    public var type: TrajectoryType
    /// The case whose image the trajectory is about; its label is always `finalDiagnosis`.
    public var caseID: String
    public var imageSHA: String
    public var prompt: String
    /// `<thinking> ... </thinking> <diagnosis> ... </diagnosis>`, or the RL answer format for
    /// a trajectory posed as a question (`TrajectorySynthesizer.posed`).
    public var target: String
    /// The reasoning inside `<thinking>`.
    public var thinking: String
    public var finalDiagnosis: NodeID
    /// The diagnosis the reasoning starts from (d_p).
    public var primaryDiagnosis: NodeID
    /// The compared diagnosis (d_d) for types 2 and 3.
    public var differentialDiagnosis: NodeID?
    /// The other case involved for types 2 and 3 (the primary case for type 3).
    public var otherCaseID: String?

    /// What a posed form's id adds to its trajectory's id.
    public static let posedSuffix = "-q"

    public init(id: String, type: TrajectoryType, caseID: String, imageSHA: String, prompt: String, target: String,
                thinking: String, finalDiagnosis: NodeID, primaryDiagnosis: NodeID, differentialDiagnosis: NodeID?,
                otherCaseID: String?) {
        self.id = id
        self.type = type
        self.caseID = caseID
        self.imageSHA = imageSHA
        self.prompt = prompt
        self.target = target
        self.thinking = thinking
        self.finalDiagnosis = finalDiagnosis
        self.primaryDiagnosis = primaryDiagnosis
        self.differentialDiagnosis = differentialDiagnosis
        self.otherCaseID = otherCaseID
    }
}

/// What a comparator receives: rho = LLM(r_p, r_d, favoured).
public struct ComparisonRequest: Sendable, Equatable {
    public var primary: NodeID
    public var primaryName: String
    public var primaryRule: DiagnosticRule
    public var differential: NodeID
    public var differentialName: String
    public var differentialRule: DiagnosticRule
    /// The diagnosis the comparison must argue for: d_p for type 2, d_d for type 3.
    public var favoured: NodeID
    /// The DDx edge note between the two, when they are adjacent in G.
    public var edgeNote: String?

    public init(primary: NodeID, primaryName: String, primaryRule: DiagnosticRule, differential: NodeID,
                differentialName: String, differentialRule: DiagnosticRule, favoured: NodeID, edgeNote: String?) {
        self.primary = primary
        self.primaryName = primaryName
        self.primaryRule = primaryRule
        self.differential = differential
        self.differentialName = differentialName
        self.differentialRule = differentialRule
        self.favoured = favoured
        self.edgeNote = edgeNote
    }

    var favouredIsPrimary: Bool { favoured == primary }
    var favouredName: String { favouredIsPrimary ? primaryName : differentialName }
    var otherName: String { favouredIsPrimary ? differentialName : primaryName }
    var favouredRule: DiagnosticRule { favouredIsPrimary ? primaryRule : differentialRule }
    var otherRule: DiagnosticRule { favouredIsPrimary ? differentialRule : primaryRule }
}

/// Writes the comparator text rho of METHOD 3.3. The default is `TemplateComparator`; an
/// OpenAI-compatible chat endpoint can conform too (outside the domain core).
public protocol Comparator: Sendable {
    func compare(_ request: ComparisonRequest) async throws -> String
}

/// The deterministic comparator: built only from the two rules and the DDx edge note.
public struct TemplateComparator: Comparator {
    public init() {}

    public func compare(_ request: ComparisonRequest) async throws -> String {
        text(for: request)
    }

    public func text(for request: ComparisonRequest) -> String {
        let favoured = request.favouredRule.hallmarks
        let other = request.otherRule.hallmarks
        let kinds = favoured.differingKinds(from: other)
        var sentences = ["\(request.favouredName) and \(request.otherName) can look alike."]
        if let note = request.edgeNote, !note.isEmpty {
            sentences.append("What separates them: \(note).")
        }
        if kinds.isEmpty {
            sentences.append("Their visible features overlap, so the rules decide: \(request.favouredRule.text)")
        } else {
            let seen = kinds.map { favoured.hallmark($0).phrase }
            let expected = kinds.map { other.hallmark($0).phrase }
            sentences.append("Here the lesion shows \(VisualHallmark.list(seen)), whereas \(request.otherName) "
                             + "would show \(VisualHallmark.list(expected)).")
        }
        sentences.append("The findings therefore support \(request.favouredName) rather than \(request.otherName).")
        return sentences.joined(separator: " ")
    }
}

public struct TrajectoryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var caseID: String
    public var message: String

    public var description: String { "case \(caseID): \(message)" }
}

/// How much a trajectory's reasoning says.
public enum TrajectoryStyle: String, Codable, Sendable, CaseIterable {
    /// Findings, the rule, the clinical context, the comparison (the comparator's text) and
    /// the taxonomy completion: several hundred tokens, for policies with a long context.
    case full
    /// The visible findings and the conclusion in one or two sentences (a type 2 or 3 names
    /// the look-alike and what it would show instead; the comparator is not called): a few
    /// dozen tokens, so that a small policy's answer fits its context and the answer budget
    /// of RL and evaluation, and ends with its tags instead of being cut.
    case compact
    /// Compact, with every conclusion reached through the diagnosis's top-level family
    /// ("Benign melanocytic lesion, more precisely Blue nevus"): coarse to fine, as the
    /// taxonomy orders them (METHOD.md 3.1), so that a policy that already tells the families
    /// apart goes on from the family it names to the diagnosis within it.
    case compactByFamily
}

/// Synthesises SFT trajectories of types 1-3 from textbook cases, rules and the DDx graph.
public struct TrajectorySynthesizer: Sendable {
    public let taxonomy: Taxonomy
    public let graph: DDxGraph
    public let rules: [NodeID: DiagnosticRule]
    public let comparator: any Comparator
    public let style: TrajectoryStyle

    public init(taxonomy: Taxonomy, graph: DDxGraph, rules: [NodeID: DiagnosticRule],
                comparator: any Comparator = TemplateComparator(), style: TrajectoryStyle = .full) {
        self.taxonomy = taxonomy
        self.graph = graph
        self.rules = rules
        self.comparator = comparator
        self.style = style
    }

    public init(knowledge: KnowledgeBase, comparator: any Comparator = TemplateComparator(),
                style: TrajectoryStyle = .full) {
        self.init(taxonomy: knowledge.taxonomy, graph: knowledge.graph, rules: knowledge.rules, comparator: comparator,
                  style: style)
    }

    /// One trajectory of the given type for `primary` (the case i of METHOD 3.3), drawing the
    /// differential case from `cases` (D_case) with a seeded stream.
    public func synthesize(_ type: TrajectoryType, primary: TextbookCase, cases: [TextbookCase],
                           seed: UInt64) async throws -> Trajectory {
        switch type {
        case .direct:
            return try direct(primary, seed: seed)
        case .differential, .revision:
            let differentialCase = try retrieveDifferential(for: primary, cases: cases, type: type, seed: seed)
            let dp = primary.label, dd = differentialCase.label
            let favoured = type == .differential ? dp : dd
            let request = try comparisonRequest(primary: dp, differential: dd, favoured: favoured, caseID: primary.caseID)
            let rho = style == .full ? try await comparator.compare(request) : ""
            return type == .differential
                ? differential(primary: primary, other: differentialCase, request: request, rho: rho, seed: seed)
                : revision(primary: primary, truth: differentialCase, request: request, rho: rho, seed: seed)
        }
    }

    /// Type 1: tau1 = (I_i, r_i, d_i, t_f).
    public func direct(_ item: TextbookCase, seed: UInt64) throws -> Trajectory {
        let rule = try rule(for: item.label, caseID: item.caseID)
        let completion = try completion(for: item.label, caseID: item.caseID)
        let thinking = switch style {
        case .full: [findings(rule), rule.text, context(rule), completion.text].compactMap { $0 }.joined(separator: " ")
        case .compact, .compactByFamily: "\(shownFindings(item, rule)) These findings indicate \(concluded(completion))."
        }
        return Trajectory(id: Self.trajectoryID(.direct, caseID: item.caseID, seed: seed), type: .direct,
                          caseID: item.caseID, imageSHA: item.imageSHA, prompt: PromptText.trajectoryInstruction,
                          target: Self.target(thinking: thinking, completion: completion), thinking: thinking,
                          finalDiagnosis: item.label, primaryDiagnosis: item.label, differentialDiagnosis: nil, otherCaseID: nil)
    }

    /// d_d := ResolveDDXNeighbor(d_p), or a random other diagnosis of D_case when it gives
    /// none (or gives d_p itself); then a case labelled d_d.
    public func retrieveDifferential(for primary: TextbookCase, cases: [TextbookCase], type: TrajectoryType,
                                     seed: UInt64) throws -> TextbookCase {
        var rng = SplitMix64(seed: seed, stream: "trajectory|\(type.rawValue)|\(primary.caseID)")
        let labels = Set(cases.map(\.label))
        var dd = resolveDDxNeighbor(primary.label, graph: graph, taxonomy: taxonomy, caseLabels: labels, rng: &rng)
        if dd == primary.label { dd = nil }
        if dd == nil {
            let related = Set(taxonomy.path(to: primary.label)).union(taxonomy.descendants(of: primary.label))
            let unrelated = labels.subtracting(related).sorted()
            let others = labels.subtracting([primary.label]).sorted()
            dd = rng.pick(unrelated) ?? rng.pick(others)
        }
        guard let dd else {
            throw TrajectoryError(caseID: primary.caseID, message: "no case with another diagnosis to compare with")
        }
        let candidates = cases.filter { $0.label == dd && $0.caseID != primary.caseID }.sorted { $0.caseID < $1.caseID }
        guard let other = rng.pick(candidates) else {
            throw TrajectoryError(caseID: primary.caseID, message: "no case labelled '\(dd)' to compare with")
        }
        return other
    }

    // MARK: - Texts

    private func differential(primary: TextbookCase, other: TextbookCase, request: ComparisonRequest, rho: String,
                              seed: UInt64) -> Trajectory {
        let completion = taxonomy.completion(for: primary.label)!
        let thinking = switch style {
        case .full: [
                findings(request.primaryRule), request.primaryRule.text, context(request.primaryRule),
                "A look-alike to rule out is \(request.differentialName): \(request.differentialRule.text)",
                rho, completion.text,
            ].compactMap { $0 }.joined(separator: " ")
        case .compact, .compactByFamily:
            "\(shownFindings(primary, request.primaryRule)) These findings indicate \(concluded(completion)) rather than "
                + "\(request.differentialName)\(wouldShow(request))."
        }
        return Trajectory(id: Self.trajectoryID(.differential, caseID: primary.caseID, seed: seed), type: .differential,
                          caseID: primary.caseID, imageSHA: primary.imageSHA, prompt: PromptText.trajectoryInstruction,
                          target: Self.target(thinking: thinking, completion: completion), thinking: thinking,
                          finalDiagnosis: primary.label,
                          primaryDiagnosis: primary.label, differentialDiagnosis: other.label, otherCaseID: other.caseID)
    }

    /// Decision (METHOD 3.3): the image is the differential case's, whose true label is d_f.
    private func revision(primary: TextbookCase, truth: TextbookCase, request: ComparisonRequest, rho: String,
                          seed: UInt64) -> Trajectory {
        let completion = taxonomy.completion(for: truth.label)!
        let thinking = switch style {
        case .full: [
                "At first sight this suggests \(request.primaryName): \(request.primaryRule.text)",
                "Checking that impression against the findings: \(findings(request.differentialRule))",
                rho,
                "Revised diagnosis: \(request.differentialName). \(request.differentialRule.text)",
                context(request.differentialRule), completion.text,
            ].compactMap { $0 }.joined(separator: " ")
        case .compact, .compactByFamily:
            "It may look like \(request.primaryName)\(wouldShow(request)). \(shownFindings(truth, request.differentialRule)) "
                + "So the diagnosis is \(concluded(completion))."
        }
        return Trajectory(id: Self.trajectoryID(.revision, caseID: truth.caseID, seed: seed, salt: primary.caseID),
                          type: .revision, caseID: truth.caseID, imageSHA: truth.imageSHA,
                          prompt: PromptText.trajectoryInstruction,
                          target: Self.target(thinking: thinking, completion: completion), thinking: thinking,
                          finalDiagnosis: truth.label,
                          primaryDiagnosis: primary.label, differentialDiagnosis: truth.label, otherCaseID: primary.caseID)
    }

    /// "Findings: ..." from the rule's hallmarks, leaving out absent structures.
    func findings(_ rule: DiagnosticRule) -> String {
        let a = rule.hallmarks
        var shown: [VisualHallmark] = [.palette(a.palette), .asymmetry(a.asymmetry), .borderIrregularity(a.borderIrregularity)]
        if a.pigmentNetwork != .absent { shown.append(.pigmentNetwork(a.pigmentNetwork)) }
        if a.dotsGlobules != .absent { shown.append(.dotsGlobules(a.dotsGlobules)) }
        if a.streaks != .absent { shown.append(.streaks(a.streaks)) }
        if a.blueWhiteVeil { shown.append(.blueWhiteVeil(true)) }
        if a.vessels != VesselType.none { shown.append(.vessels(a.vessels)) }
        if a.scaleCrust != ScaleCrust.none { shown.append(.scaleCrust(a.scaleCrust)) }
        shown.append(.surface(a.surface))
        shown.append(.sizeMillimetres(a.sizeMillimetres))
        if a.multiplicity != .solitary { shown.append(.multiplicity(a.multiplicity)) }
        return "Findings: " + VisualHallmark.list(shown.map(\.phrase)) + "."
    }

    /// The compact findings of `item`'s image: its rationale's observation when it has one
    /// (`TextbookCase.observation`), so that the reasoning states what this image shows as
    /// the policy's own descriptions do; else `shownFindings(rule)`.
    func shownFindings(_ item: TextbookCase, _ rule: DiagnosticRule) -> String {
        item.observation ?? shownFindings(rule)
    }

    /// The compact findings of a rule: "The image shows ..." with the colours, at most two of the
    /// most telling other hallmarks (structures first, then a raised surface, asymmetry, an
    /// irregular border) and the size.
    func shownFindings(_ rule: DiagnosticRule) -> String {
        let a = rule.hallmarks
        var telling: [VisualHallmark] = []
        if a.blueWhiteVeil { telling.append(.blueWhiteVeil(true)) }
        if a.streaks != .absent { telling.append(.streaks(a.streaks)) }
        if a.vessels != VesselType.none { telling.append(.vessels(a.vessels)) }
        if a.dotsGlobules != .absent { telling.append(.dotsGlobules(a.dotsGlobules)) }
        if a.pigmentNetwork != .absent { telling.append(.pigmentNetwork(a.pigmentNetwork)) }
        if a.scaleCrust != ScaleCrust.none { telling.append(.scaleCrust(a.scaleCrust)) }
        if a.surface != .flat { telling.append(.surface(a.surface)) }
        if a.asymmetry.midpoint >= 0.3 { telling.append(.asymmetry(a.asymmetry)) }
        if a.borderIrregularity.midpoint >= 0.3 { telling.append(.borderIrregularity(a.borderIrregularity)) }
        let shown = [VisualHallmark.palette(a.palette)] + telling.prefix(2) + [.sizeMillimetres(a.sizeMillimetres)]
        return VisualHallmark.imageShows(shown.map(\.phrase))
    }

    /// ", which would show X": the first hallmark in which the diagnosis argued against
    /// differs from the favoured one (empty when their hallmarks agree).
    func wouldShow(_ request: ComparisonRequest) -> String {
        guard let kind = request.favouredRule.hallmarks.differingKinds(from: request.otherRule.hallmarks).first else { return "" }
        return ", which would show " + request.otherRule.hallmarks.hallmark(kind).phrase
    }

    /// `trajectory` posed as the multiple-choice `item` about its own image (METHOD 3.4's RL
    /// answer format): the item's prompt, the same reasoning, then the letter of the item's
    /// correct option and the lesion condition. Teaches a small policy that the diagnosis it
    /// reasons to is answered by the letter of the option that names it. With `judgesOptions`
    /// the reasoning then judges every option (`PromptText.optionJudgement`) before the letter.
    public func posed(_ trajectory: Trajectory, as item: QuestionItem, judgesOptions: Bool = false) throws -> Trajectory {
        guard item.imageSHA == trajectory.imageSHA, item.groundTruth == trajectory.finalDiagnosis else {
            throw TrajectoryError(caseID: trajectory.caseID,
                                  message: "question \(item.id) is about another image or diagnosis than trajectory \(trajectory.id)")
        }
        let condition: LesionCondition? = item.answerFormat == .letterAndCondition ? item.groundTruthCondition : nil
        var posed = trajectory
        posed.id = trajectory.id + Trajectory.posedSuffix
        posed.prompt = item.prompt
        let thinking = judgesOptions
            ? PromptText.judging(trajectory.thinking, options: item.options, answer: item.correctLetter) : trajectory.thinking
        posed.target = PromptText.answer(thinking: thinking, letter: item.correctLetter, condition: condition)
        return posed
    }

    /// The name a compact conclusion gives: the diagnosis's, after its top-level family's in
    /// `compactByFamily` (unless the diagnosis is a top-level family itself).
    func concluded(_ completion: HierarchicalCompletion) -> String {
        guard style == .compactByFamily, let family = completion.familyNames.first else { return completion.diagnosisName }
        return "\(family), more precisely \(completion.diagnosisName)"
    }

    func context(_ rule: DiagnosticRule) -> String? {
        rule.clinicalClue.map { "Typical context: \($0)." }
    }

    static func target(thinking: String, completion: HierarchicalCompletion) -> String {
        "\(PromptText.thinkingOpen) \(thinking) \(PromptText.thinkingClose) "
            + "\(PromptText.diagnosisOpen) \(completion.diagnosisLine) \(PromptText.diagnosisClose)"
    }

    static func trajectoryID(_ type: TrajectoryType, caseID: String, seed: UInt64, salt: String = "") -> String {
        "traj\(type.rawValue)-" + String(StableHash.fnv1a64("\(type.rawValue)|\(caseID)|\(salt)|\(seed)"), radix: 16)
    }

    private func rule(for id: NodeID, caseID: String) throws -> DiagnosticRule {
        guard let rule = rules[id] else {
            throw TrajectoryError(caseID: caseID, message: "no diagnostic rule for '\(id)'")
        }
        return rule
    }

    private func completion(for id: NodeID, caseID: String) throws -> HierarchicalCompletion {
        guard let completion = taxonomy.completion(for: id) else {
            throw TrajectoryError(caseID: caseID, message: "'\(id)' is not a diagnosis of the taxonomy")
        }
        return completion
    }

    private func comparisonRequest(primary: NodeID, differential: NodeID, favoured: NodeID,
                                   caseID: String) throws -> ComparisonRequest {
        let primaryRule = try rule(for: primary, caseID: caseID)
        let differentialRule = try rule(for: differential, caseID: caseID)
        return ComparisonRequest(primary: primary, primaryName: taxonomy.name(of: primary), primaryRule: primaryRule,
                                 differential: differential, differentialName: taxonomy.name(of: differential),
                                 differentialRule: differentialRule, favoured: favoured,
                                 edgeNote: graph.note(between: primary, and: differential))
    }
}
