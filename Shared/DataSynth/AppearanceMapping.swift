import Domain
import Foundation

/// From the clinical hallmark vocabulary (`LesionAppearance`, what a diagnostic rule
/// prescribes) to pixel-level render parameters.
///
/// Ranges in the appearance (asymmetry, border irregularity, size) are sampled with the
/// given seed, as are the exact amounts of each structure, so that cases of one diagnosis
/// vary while staying inside their rule. Two appearances that differ only in one hallmark
/// map to parameters that differ only in that hallmark's knobs.
extension LesionRenderParameters {
    public init(appearance: LesionAppearance, style: ImagingStyle = .dermoscopy,
                skinTone: RGBColour = .skinLight, seed: UInt64) throws(ImageError) {
        let problems = appearance.problems
        guard problems.isEmpty else {
            throw ImageError("lesion appearance is invalid: \(problems.joined(separator: "; "))")
        }
        // Each attribute draws from its own named stream, so changing one hallmark leaves
        // the sampled values of all the others as they were.
        func stream(_ name: String) -> SplitMix64 { SplitMix64(seed: seed, stream: "appearance." + name) }
        var r = stream("palette")
        func pick(_ range: ParameterRange) -> Float {
            Float(range.lower + (range.upper - range.lower) * Double(r.unit()))
        }
        self.init(skinTone: skinTone, style: style)

        // Palette: the first listed colour dominates; at most four colours are drawn.
        let baseWeights: [Float] = [1.0, 0.7, 0.5, 0.35]
        palette = appearance.palette.prefix(4).enumerated().map { i, colour in
            PaletteEntry(Self.colour(colour, skin: skinTone), weight: baseWeights[i] * r.uniform(0.8, 1.2))
        }
        r = stream("outline")
        asymmetry = pick(appearance.asymmetry)
        borderIrregularity = pick(appearance.borderIrregularity)

        // Size: a dermoscope frames small lesions closely and large ones loosely, so the
        // on-image radius grows sub-linearly with the diameter.
        r = stream("size")
        let diameter = max(pick(appearance.sizeMillimetres), 0.5)
        let framing: Float = style == .dermoscopy ? 1 : 0.85
        radius = min(max(0.16 * pow(diameter, 0.45) * framing, 0.12), 0.85)

        r = stream("network")
        switch appearance.pigmentNetwork {
        case .absent: network = .none
        case .regular: network = .init(density: r.uniform(0.45, 0.7), contrast: r.uniform(0.45, 0.65), regularity: r.uniform(0.8, 1))
        case .atypical: network = .init(density: r.uniform(0.45, 0.7), contrast: r.uniform(0.65, 0.9), regularity: r.uniform(0, 0.25))
        case .peripheralDelicate:
            network = .init(density: r.uniform(0.65, 0.85), contrast: r.uniform(0.3, 0.45), regularity: r.uniform(0.8, 1), placement: .rim)
        }

        let darkest = palette.map(\.colour).min { $0.luma < $1.luma } ?? .darkBrown
        r = stream("globules")
        switch appearance.dotsGlobules {
        case .absent: globules = .none
        case .regular:
            globules = .init(count: Int(r.uniform(10, 18)), size: r.uniform(0.04, 0.05), colour: darkest.scaled(0.85),
                             peripheral: r.uniform(0.3, 0.7), irregularity: r.uniform(0, 0.15))
        case .irregular:
            globules = .init(count: Int(r.uniform(15, 30)), size: r.uniform(0.035, 0.06), colour: RGBColour.black.mixed(with: darkest, 0.3),
                             peripheral: r.uniform(0.3, 0.8), irregularity: r.uniform(0.7, 1))
        case .greyPeppering:
            globules = .init(count: Int(r.uniform(60, 120)), size: r.uniform(0.012, 0.02), colour: .blueGrey,
                             peripheral: r.uniform(0.2, 0.5), irregularity: r.uniform(0.6, 0.9))
        case .ovoidNests:
            globules = .init(count: Int(r.uniform(4, 10)), size: r.uniform(0.09, 0.14), colour: .steelBlue.mixed(with: .blueGrey, 0.5),
                             peripheral: r.uniform(0.3, 0.6), irregularity: r.uniform(0.5, 0.8))
        case .miliaLikeCysts:
            globules = .init(count: Int(r.uniform(6, 16)), size: r.uniform(0.03, 0.05), colour: .yellowWhite,
                             peripheral: r.uniform(0.1, 0.4), irregularity: r.uniform(0.2, 0.4))
        }

        r = stream("streaks")
        switch appearance.streaks {
        case .absent: streaks = .none
        case .symmetricStarburst: streaks = .init(count: Int(r.uniform(14, 22)), length: r.uniform(0.2, 0.3), arc: 1)
        case .irregular: streaks = .init(count: Int(r.uniform(4, 9)), length: r.uniform(0.15, 0.3), arc: r.uniform(0.2, 0.4))
        }

        r = stream("veil")
        veil = appearance.blueWhiteVeil ? .init(strength: r.uniform(0.6, 0.9), extent: r.uniform(0.35, 0.6)) : .none

        r = stream("vessels")
        let vesselDensity = r.uniform(0.4, 0.8)
        let pattern: VesselPattern
        switch appearance.vessels {
        case .none: pattern = .none
        case .arborizing: pattern = .arborizing
        case .dotted: pattern = .dotted
        case .glomerular: pattern = .glomerular
        case .comma: pattern = .comma
        case .hairpin: pattern = .hairpin
        case .linearIrregular: pattern = .linearIrregular
        case .polymorphous: pattern = .polymorphous
        case .lacunae: pattern = .lacunae
        case .redPseudonetwork: pattern = .redPseudonetwork
        }
        vessels = pattern == .none ? .none : .init(pattern: pattern, density: vesselDensity)

        r = stream("scale")
        switch appearance.scaleCrust {
        case .none: scale = .none
        case .fine: scale = .init(amount: r.uniform(0.3, 0.45), colour: .white)
        case .thick: scale = .init(amount: r.uniform(0.65, 0.85), colour: .yellowWhite)
        case .keratinPlug:
            scale = .init(amount: r.uniform(0.3, 0.45), colour: .yellowWhite)
            whiteArea = .init(strength: r.uniform(0.7, 0.9), extent: r.uniform(0.3, 0.45))
        case .crust: scale = .init(amount: r.uniform(0.5, 0.7), colour: .crust)
        }

        r = stream("surface")
        switch appearance.surface {
        case .flat: shine = 0; borderSharpness = r.uniform(0.6, 0.8)
        case .slightlyRaised: shine = r.uniform(0.05, 0.15); borderSharpness = r.uniform(0.55, 0.75)
        case .dome: shine = r.uniform(0.3, 0.45); borderSharpness = r.uniform(0.55, 0.75)
        case .nodular: shine = r.uniform(0.4, 0.55); borderSharpness = r.uniform(0.6, 0.8)
        case .stuckOn: shine = r.uniform(0.1, 0.2); borderSharpness = r.uniform(0.9, 1)
        case .ulcerated:
            shine = r.uniform(0.2, 0.35); borderSharpness = r.uniform(0.6, 0.8)
            // An eroded centre: crust over a red base.
            if scale.amount < 0.5 { scale = .init(amount: r.uniform(0.5, 0.65), colour: RGBColour.crust.mixed(with: .red, 0.4)) }
        case .vesicular:
            shine = 0; borderSharpness = r.uniform(0.1, 0.3)
            vesicles = .init(count: Int(r.uniform(4, 10)), size: r.uniform(0.08, 0.12), umbilicated: false)
        case .umbilicated:
            shine = 0; borderSharpness = r.uniform(0.2, 0.4)
            vesicles = .init(count: Int(r.uniform(2, 5)), size: r.uniform(0.12, 0.18), umbilicated: true)
        case .rash: shine = 0; borderSharpness = r.uniform(0, 0.15)
        }

        r = stream("multiplicity")
        switch appearance.multiplicity {
        case .solitary: satellites = .none
        case .few: satellites = .init(count: Int(r.uniform(2, 5)), size: r.uniform(0.25, 0.45))
        case .widespread: satellites = .init(count: Int(r.uniform(8, 17)), size: r.uniform(0.15, 0.35))
        }
        // A widespread eruption is many lesions: keep the "main" one no larger than its peers' scale.
        if appearance.multiplicity == .widespread { radius = min(radius, 0.4) }

        try validate()
    }

    /// The renderer's colour for a vocabulary colour.
    public static func colour(_ colour: PaletteColour, skin: RGBColour) -> RGBColour {
        switch colour {
        case .skinTone: skin.mixed(with: .pink, 0.2).scaled(0.97)
        case .tan: .tan
        case .lightBrown: .lightBrown
        case .darkBrown: .darkBrown
        case .black: .black
        case .blueGrey: .blueGrey
        case .red: .red
        case .pink: .pink
        case .violet: .violet
        case .white: .white
        case .yellow: RGBColour(0.88, 0.76, 0.45)
        }
    }
}
