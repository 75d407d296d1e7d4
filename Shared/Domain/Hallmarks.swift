/// The fixed visual vocabulary shared by the diagnostic rules and the image synthesiser:
/// every rule lists its hallmarks in these terms, and the synthesiser draws exactly these.
/// Confusable diagnoses are given appearances that share most attributes and differ in
/// a few, so that telling them apart needs the discriminating feature.

/// Colours a lesion may show.
public enum PaletteColour: String, Codable, Sendable, CaseIterable {
    case skinTone = "skin_tone"
    case tan
    case lightBrown = "light_brown"
    case darkBrown = "dark_brown"
    case black
    case blueGrey = "blue_grey"
    case red
    case pink
    case violet
    case white
    case yellow

    public var text: String {
        switch self {
        case .skinTone: "skin-coloured"
        case .tan: "tan"
        case .lightBrown: "light brown"
        case .darkBrown: "dark brown"
        case .black: "black"
        case .blueGrey: "blue-grey"
        case .red: "red"
        case .pink: "pink"
        case .violet: "violet"
        case .white: "white"
        case .yellow: "yellow"
        }
    }
}

/// A closed interval for a continuous attribute (0...1 for asymmetry and border
/// irregularity, millimetres for size). The synthesiser samples inside it.
public struct ParameterRange: Codable, Sendable, Equatable, Hashable {
    public var lower: Double
    public var upper: Double

    public init(_ lower: Double, _ upper: Double) {
        self.lower = lower
        self.upper = upper
    }

    public var isValid: Bool { lower.isFinite && upper.isFinite && lower <= upper }
    public var midpoint: Double { (lower + upper) / 2 }
    public func contains(_ value: Double) -> Bool { value >= lower && value <= upper }
    public func overlaps(_ other: ParameterRange) -> Bool { lower <= other.upper && other.lower <= upper }

    /// Written as a two-element array `[lower, upper]` in the knowledge files.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let lower = try container.decode(Double.self)
        let upper = try container.decode(Double.self)
        guard container.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a range has exactly two numbers [lower, upper]")
        }
        self.init(lower, upper)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(lower)
        try container.encode(upper)
    }
}

public enum PigmentNetwork: String, Codable, Sendable, CaseIterable {
    case absent
    case regular
    case atypical
    /// A fine, light network confined to the rim (dermatofibroma-like).
    case peripheralDelicate = "peripheral_delicate"
}

public enum DotsGlobules: String, Codable, Sendable, CaseIterable {
    case absent
    case regular
    case irregular
    /// Fine grey granules ("peppering"), as in regression.
    case greyPeppering = "grey_peppering"
    /// Large blue-grey ovoid nests and globules.
    case ovoidNests = "ovoid_nests"
    /// Small white-yellow round bodies.
    case miliaLikeCysts = "milia_like_cysts"
}

public enum Streaks: String, Codable, Sendable, CaseIterable {
    case absent
    /// Regular radial streaks all round the rim.
    case symmetricStarburst = "symmetric_starburst"
    /// Streaks or pseudopods at part of the rim only.
    case irregular
}

public enum VesselType: String, Codable, Sendable, CaseIterable {
    case none
    case arborizing
    case dotted
    case glomerular
    case comma
    case hairpin
    case linearIrregular = "linear_irregular"
    case polymorphous
    /// Red, blue or dark round lagoons separated by pale septa.
    case lacunae
    /// Red meshwork between follicles.
    case redPseudonetwork = "red_pseudonetwork"
}

public enum ScaleCrust: String, Codable, Sendable, CaseIterable {
    case none
    case fine
    case thick
    /// A compact column or plug of keratin.
    case keratinPlug = "keratin_plug"
    case crust
}

public enum LesionSurface: String, Codable, Sendable, CaseIterable {
    case flat
    case slightlyRaised = "slightly_raised"
    case dome
    case nodular
    /// Waxy, fissured, "stuck-on" surface.
    case stuckOn = "stuck_on"
    case ulcerated
    /// Vesicles or pustules.
    case vesicular
    /// Papules or pustules with a central dell.
    case umbilicated
    /// Ill-defined erythematous patches rather than one lesion.
    case rash
}

public enum LesionMultiplicity: String, Codable, Sendable, CaseIterable {
    case solitary
    case few
    case widespread
}

/// The attributes of the vocabulary, used to compare two appearances.
public enum HallmarkKind: String, Codable, Sendable, CaseIterable {
    case palette
    case asymmetry
    case borderIrregularity = "border_irregularity"
    case pigmentNetwork = "pigment_network"
    case dotsGlobules = "dots_globules"
    case streaks
    case blueWhiteVeil = "blue_white_veil"
    case vessels
    case scaleCrust = "scale_crust"
    case size
    case surface
    case multiplicity
}

/// One hallmark with its value, in the list form a rule states.
public enum VisualHallmark: Sendable, Equatable {
    case palette([PaletteColour])
    case asymmetry(ParameterRange)
    case borderIrregularity(ParameterRange)
    case pigmentNetwork(PigmentNetwork)
    case dotsGlobules(DotsGlobules)
    case streaks(Streaks)
    case blueWhiteVeil(Bool)
    case vessels(VesselType)
    case scaleCrust(ScaleCrust)
    case sizeMillimetres(ParameterRange)
    case surface(LesionSurface)
    case multiplicity(LesionMultiplicity)

    public var kind: HallmarkKind {
        switch self {
        case .palette: .palette
        case .asymmetry: .asymmetry
        case .borderIrregularity: .borderIrregularity
        case .pigmentNetwork: .pigmentNetwork
        case .dotsGlobules: .dotsGlobules
        case .streaks: .streaks
        case .blueWhiteVeil: .blueWhiteVeil
        case .vessels: .vessels
        case .scaleCrust: .scaleCrust
        case .sizeMillimetres: .size
        case .surface: .surface
        case .multiplicity: .multiplicity
        }
    }

    /// A short clinical phrase for rationales ("marked asymmetry", "arborizing vessels").
    public var phrase: String {
        switch self {
        case .palette(let colours):
            let names = colours.map(\.text)
            return colours.count >= 3
                ? "\(colours.count) colours (\(Self.list(names)))"
                : "\(Self.list(names)) colour"
        case .asymmetry(let range):
            return Self.degree(range, low: "a symmetric outline", mid: "mild asymmetry", high: "marked asymmetry")
        case .borderIrregularity(let range):
            return Self.degree(range, low: "a sharp regular border", mid: "a somewhat irregular border",
                               high: "an irregular, notched border")
        case .pigmentNetwork(let network):
            switch network {
            case .absent: return "no pigment network"
            case .regular: return "a regular pigment network"
            case .atypical: return "an atypical, broadened pigment network"
            case .peripheralDelicate: return "a delicate network confined to the rim"
            }
        case .dotsGlobules(let dots):
            switch dots {
            case .absent: return "no dots or globules"
            case .regular: return "regular dots and globules"
            case .irregular: return "irregular dots and globules"
            case .greyPeppering: return "grey granular peppering"
            case .ovoidNests: return "blue-grey ovoid nests"
            case .miliaLikeCysts: return "milia-like cysts"
            }
        case .streaks(let streaks):
            switch streaks {
            case .absent: return "no streaks"
            case .symmetricStarburst: return "symmetric radial streaks (starburst)"
            case .irregular: return "irregular streaks at part of the rim"
            }
        case .blueWhiteVeil(let present):
            return present ? "a blue-white veil" : "no blue-white veil"
        case .vessels(let vessels):
            switch vessels {
            case .none: return "no visible vessels"
            case .arborizing: return "arborizing vessels"
            case .dotted: return "dotted vessels"
            case .glomerular: return "clustered glomerular vessels"
            case .comma: return "comma vessels"
            case .hairpin: return "hairpin vessels"
            case .linearIrregular: return "linear irregular vessels"
            case .polymorphous: return "polymorphous vessels"
            case .lacunae: return "red-blue lacunae"
            case .redPseudonetwork: return "a red pseudonetwork around follicles"
            }
        case .scaleCrust(let scale):
            switch scale {
            case .none: return "no scale"
            case .fine: return "fine surface scale"
            case .thick: return "thick adherent scale"
            case .keratinPlug: return "a central keratin plug"
            case .crust: return "crust"
            }
        case .sizeMillimetres(let range):
            return "a diameter of about \(Self.millimetres(range.lower))-\(Self.millimetres(range.upper)) mm"
        case .surface(let surface):
            switch surface {
            case .flat: return "a flat surface"
            case .slightlyRaised: return "a slightly raised surface"
            case .dome: return "a dome-shaped papule"
            case .nodular: return "a firm nodule"
            case .stuckOn: return "a waxy stuck-on surface"
            case .ulcerated: return "ulceration"
            case .vesicular: return "vesicles or pustules"
            case .umbilicated: return "umbilicated papules"
            case .rash: return "ill-defined erythematous patches"
            }
        case .multiplicity(let multiplicity):
            switch multiplicity {
            case .solitary: return "a solitary lesion"
            case .few: return "a few lesions"
            case .widespread: return "widespread lesions"
            }
        }
    }

    private static func degree(_ range: ParameterRange, low: String, mid: String, high: String) -> String {
        range.midpoint < 0.3 ? low : (range.midpoint < 0.6 ? mid : high)
    }

    private static func millimetres(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The words every description of an image opens with.
    public static let imageShowsOpening = "The image shows "

    /// "The image shows <phrases>.": how descriptions, exemplar rationales and reasoning state
    /// what an image shows.
    public static func imageShows(_ phrases: [String]) -> String {
        imageShowsOpening + list(phrases) + "."
    }

    /// "a, b and c".
    public static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }
}

/// The full appearance a rule prescribes: one value for every attribute of the vocabulary.
public struct LesionAppearance: Codable, Sendable, Equatable {
    public var palette: [PaletteColour]
    /// 0 = perfectly symmetric, 1 = no axis of symmetry.
    public var asymmetry: ParameterRange
    /// 0 = smooth sharp border, 1 = notched, ragged border.
    public var borderIrregularity: ParameterRange
    public var pigmentNetwork: PigmentNetwork
    public var dotsGlobules: DotsGlobules
    public var streaks: Streaks
    public var blueWhiteVeil: Bool
    public var vessels: VesselType
    public var scaleCrust: ScaleCrust
    public var sizeMillimetres: ParameterRange
    public var surface: LesionSurface
    public var multiplicity: LesionMultiplicity

    enum CodingKeys: String, CodingKey {
        case palette, asymmetry, streaks, vessels, surface, multiplicity
        case borderIrregularity = "border_irregularity"
        case pigmentNetwork = "pigment_network"
        case dotsGlobules = "dots_globules"
        case blueWhiteVeil = "blue_white_veil"
        case scaleCrust = "scale_crust"
        case sizeMillimetres = "size_mm"
    }

    public init(palette: [PaletteColour], asymmetry: ParameterRange, borderIrregularity: ParameterRange,
                pigmentNetwork: PigmentNetwork, dotsGlobules: DotsGlobules, streaks: Streaks,
                blueWhiteVeil: Bool, vessels: VesselType, scaleCrust: ScaleCrust,
                sizeMillimetres: ParameterRange, surface: LesionSurface, multiplicity: LesionMultiplicity) {
        self.palette = palette
        self.asymmetry = asymmetry
        self.borderIrregularity = borderIrregularity
        self.pigmentNetwork = pigmentNetwork
        self.dotsGlobules = dotsGlobules
        self.streaks = streaks
        self.blueWhiteVeil = blueWhiteVeil
        self.vessels = vessels
        self.scaleCrust = scaleCrust
        self.sizeMillimetres = sizeMillimetres
        self.surface = surface
        self.multiplicity = multiplicity
    }

    /// Admissible bounds of the continuous attributes.
    public static let unitBounds = ParameterRange(0, 1)
    public static let sizeBounds = ParameterRange(0.5, 200)

    /// The appearance as a list of hallmarks, in vocabulary order.
    public var hallmarks: [VisualHallmark] {
        [.palette(palette), .asymmetry(asymmetry), .borderIrregularity(borderIrregularity),
         .pigmentNetwork(pigmentNetwork), .dotsGlobules(dotsGlobules), .streaks(streaks),
         .blueWhiteVeil(blueWhiteVeil), .vessels(vessels), .scaleCrust(scaleCrust),
         .sizeMillimetres(sizeMillimetres), .surface(surface), .multiplicity(multiplicity)]
    }

    public func hallmark(_ kind: HallmarkKind) -> VisualHallmark {
        hallmarks.first { $0.kind == kind }!
    }

    /// Problems with the ranges or palette, described for error messages (empty when valid).
    public var problems: [String] {
        var found: [String] = []
        if palette.isEmpty { found.append("palette is empty") }
        if Set(palette).count != palette.count { found.append("palette repeats a colour") }
        for (name, range, bounds) in [("asymmetry", asymmetry, Self.unitBounds),
                                      ("border_irregularity", borderIrregularity, Self.unitBounds),
                                      ("size_millimetres", sizeMillimetres, Self.sizeBounds)] {
            if !range.isValid || range.lower < bounds.lower || range.upper > bounds.upper {
                found.append("\(name) range \(range.lower)...\(range.upper) is outside \(bounds.lower)...\(bounds.upper) or reversed")
            }
        }
        return found
    }

    /// The attributes on which two appearances visibly differ. Continuous attributes differ
    /// when their ranges do not overlap; palettes differ when fewer than half of the colours
    /// of the two are shared (Jaccard index below 0.5).
    public func differingKinds(from other: LesionAppearance) -> [HallmarkKind] {
        var kinds: [HallmarkKind] = []
        let a = Set(palette), b = Set(other.palette)
        let jaccard = Double(a.intersection(b).count) / Double(max(1, a.union(b).count))
        if jaccard < 0.5 { kinds.append(.palette) }
        if !asymmetry.overlaps(other.asymmetry) { kinds.append(.asymmetry) }
        if !borderIrregularity.overlaps(other.borderIrregularity) { kinds.append(.borderIrregularity) }
        if pigmentNetwork != other.pigmentNetwork { kinds.append(.pigmentNetwork) }
        if dotsGlobules != other.dotsGlobules { kinds.append(.dotsGlobules) }
        if streaks != other.streaks { kinds.append(.streaks) }
        if blueWhiteVeil != other.blueWhiteVeil { kinds.append(.blueWhiteVeil) }
        if vessels != other.vessels { kinds.append(.vessels) }
        if scaleCrust != other.scaleCrust { kinds.append(.scaleCrust) }
        if !sizeMillimetres.overlaps(other.sizeMillimetres) { kinds.append(.size) }
        if surface != other.surface { kinds.append(.surface) }
        if multiplicity != other.multiplicity { kinds.append(.multiplicity) }
        return kinds
    }
}
