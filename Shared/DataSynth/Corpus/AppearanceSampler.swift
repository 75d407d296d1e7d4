import Domain

/// Turns a rule's hallmarks (ranges and lists) into the concrete appearance of one lesion,
/// and writes the rationale that names exactly what was drawn.
public enum AppearanceSampler {
    /// The renderer draws at most this many palette colours.
    public static let maximumColours = 4

    /// Samples every range of the hallmarks to one value (kept as a zero-width range),
    /// keeps at most four colours and sometimes drops one minor colour.
    public static func concrete(_ hallmarks: LesionAppearance, rng: inout SplitMix64) -> LesionAppearance {
        var appearance = hallmarks
        func point(_ range: ParameterRange, step: Double) -> ParameterRange {
            let raw = range.lower + (range.upper - range.lower) * rng.nextDouble()
            let value = min(max((raw / step).rounded() * step, range.lower), range.upper)
            return ParameterRange(value, value)
        }
        appearance.asymmetry = point(hallmarks.asymmetry, step: 0.01)
        appearance.borderIrregularity = point(hallmarks.borderIrregularity, step: 0.01)
        appearance.sizeMillimetres = point(hallmarks.sizeMillimetres, step: 0.1)
        var palette = Array(hallmarks.palette.prefix(maximumColours))
        if palette.count >= 3 && rng.nextDouble() < 0.3 {
            palette.remove(at: 1 + rng.nextInt(below: palette.count - 1))
        }
        appearance.palette = palette
        return appearance
    }

    /// Discrete features that may be borrowed from a confusable diagnosis.
    static let borrowable: [HallmarkKind] = [.pigmentNetwork, .dotsGlobules, .streaks, .blueWhiteVeil, .vessels, .scaleCrust, .surface]

    /// Replaces one discrete feature with that of a confusable diagnosis, making the lesion
    /// less typical; returns what was borrowed, or nil when no neighbour differs.
    static func borrowFeature(into appearance: inout LesionAppearance, diagnosis: NodeID, helper: KnowledgeView,
                              rng: inout SplitMix64) -> String? {
        let neighbours = helper.neighbours(of: diagnosis)
        guard !neighbours.isEmpty else { return nil }
        let neighbour = neighbours[rng.nextInt(below: neighbours.count)]
        guard let other = helper.knowledge.rules[neighbour]?.hallmarks else { return nil }
        let kinds = borrowable.filter { appearance.hallmark($0) != other.hallmark($0) }
        guard !kinds.isEmpty else { return nil }
        let kind = kinds[rng.nextInt(below: kinds.count)]
        switch kind {
        case .pigmentNetwork: appearance.pigmentNetwork = other.pigmentNetwork
        case .dotsGlobules: appearance.dotsGlobules = other.dotsGlobules
        case .streaks: appearance.streaks = other.streaks
        case .blueWhiteVeil: appearance.blueWhiteVeil = other.blueWhiteVeil
        case .vessels: appearance.vessels = other.vessels
        case .scaleCrust: appearance.scaleCrust = other.scaleCrust
        case .surface: appearance.surface = other.surface
        default: return nil
        }
        return "\(kind.rawValue) from \(neighbour)"
    }

    /// The features visible in a concrete appearance, as clinical phrases.
    public static func findings(_ appearance: LesionAppearance) -> [String] {
        var phrases = [
            VisualHallmark.palette(appearance.palette).phrase,
            VisualHallmark.asymmetry(appearance.asymmetry).phrase,
            VisualHallmark.borderIrregularity(appearance.borderIrregularity).phrase,
        ]
        if appearance.pigmentNetwork != .absent { phrases.append(VisualHallmark.pigmentNetwork(appearance.pigmentNetwork).phrase) }
        if appearance.dotsGlobules != .absent { phrases.append(VisualHallmark.dotsGlobules(appearance.dotsGlobules).phrase) }
        if appearance.streaks != .absent { phrases.append(VisualHallmark.streaks(appearance.streaks).phrase) }
        if appearance.blueWhiteVeil { phrases.append(VisualHallmark.blueWhiteVeil(true).phrase) }
        if appearance.vessels != .none { phrases.append(VisualHallmark.vessels(appearance.vessels).phrase) }
        if appearance.scaleCrust != .none { phrases.append(VisualHallmark.scaleCrust(appearance.scaleCrust).phrase) }
        phrases.append(VisualHallmark.surface(appearance.surface).phrase)
        // To a tenth of a millimetre: a drawn 5.8 may be stored as 5.800000000000001.
        let size = (appearance.sizeMillimetres.midpoint * 10).rounded() / 10
        phrases.append("about \(size == size.rounded() ? String(Int(size)) : String(size)) mm across")
        if appearance.multiplicity != .solitary { phrases.append(VisualHallmark.multiplicity(appearance.multiplicity).phrase) }
        return phrases
    }

    /// "The image shows <findings>.": what a concrete appearance shows.
    public static func shown(_ appearance: LesionAppearance) -> String {
        VisualHallmark.imageShows(findings(appearance))
    }

    /// "The image shows <findings>. <rule> These findings fit <name>."
    public static func rationale(for appearance: LesionAppearance, rule: DiagnosticRule, name: String) -> String {
        "\(shown(appearance)) \(rule.text) These findings fit \(name)."
    }
}
