@testable import DataSynth

/// Hand-written parameter sets for a handful of diagnoses, used by the tests and the
/// contact sheet.
enum Examples {
    static let nevus = LesionRenderParameters(
        palette: [.init(.darkBrown, weight: 0.3), .init(.lightBrown, weight: 0.7)],
        radius: 0.45, asymmetry: 0.05, borderIrregularity: 0.05, borderSharpness: 0.75,
        network: .init(density: 0.6, contrast: 0.6, regularity: 0.9))

    static let melanoma = LesionRenderParameters(
        palette: [.init(.black, weight: 0.25), .init(.darkBrown, weight: 0.35), .init(.lightBrown, weight: 0.25), .init(.pink, weight: 0.15)],
        radius: 0.6, asymmetry: 0.75, borderIrregularity: 0.7, borderSharpness: 0.6,
        network: .init(density: 0.6, contrast: 0.8, regularity: 0.2),
        globules: .init(count: 18, size: 0.05, colour: .black, peripheral: 0.6, irregularity: 0.8),
        streaks: .init(count: 6, length: 0.2, arc: 0.3),
        veil: .init(strength: 0.8, extent: 0.45),
        vessels: .init(pattern: .linearIrregular, density: 0.3))

    static let bcc = LesionRenderParameters(
        skinTone: .skinLight,
        palette: [.init(.pink, weight: 0.8), .init(RGBColour(0.93, 0.78, 0.74), weight: 0.2)],
        radius: 0.5, asymmetry: 0.2, borderIrregularity: 0.15, borderSharpness: 0.5,
        globules: .init(count: 6, size: 0.09, colour: .blueGrey, peripheral: 0.4, irregularity: 0.6),
        vessels: .init(pattern: .arborizing, density: 0.6), shine: 0.5)

    static let seborrheicKeratosis = LesionRenderParameters(
        palette: [.init(.lightBrown, weight: 0.6), .init(.darkBrown, weight: 0.4)],
        radius: 0.55, asymmetry: 0.25, borderIrregularity: 0.35, borderSharpness: 0.95,
        globules: .init(count: 14, size: 0.04, colour: .yellowWhite, peripheral: 0.3, irregularity: 0.3),
        vessels: .init(pattern: .hairpin, density: 0.3),
        scale: .init(amount: 0.3, colour: .crust))

    static let dermatofibroma = LesionRenderParameters(
        palette: [.init(RGBColour(0.80, 0.62, 0.55), weight: 0.5), .init(.lightBrown, weight: 0.5)],
        radius: 0.4, asymmetry: 0.1, borderIrregularity: 0.1, borderSharpness: 0.3,
        network: .init(density: 0.7, contrast: 0.4, regularity: 0.9),
        whiteArea: .init(strength: 0.8, extent: 0.45))

    static let actinicKeratosis = LesionRenderParameters(
        palette: [.init(RGBColour(0.88, 0.55, 0.52), weight: 1)],
        radius: 0.6, asymmetry: 0.3, borderIrregularity: 0.3, borderSharpness: 0.2,
        vessels: .init(pattern: .dotted, density: 0.3),
        scale: .init(amount: 0.6, colour: .yellowWhite), style: .clinicalPhoto)

    static let hemangioma = LesionRenderParameters(
        palette: [.init(.red, weight: 0.6), .init(.violet, weight: 0.4)],
        radius: 0.35, asymmetry: 0.05, borderIrregularity: 0.05, borderSharpness: 0.9,
        globules: .init(count: 25, size: 0.12, colour: RGBColour(0.55, 0.08, 0.15), peripheral: 0.4, irregularity: 0.2),
        shine: 0.3)

    static let blueNevus = LesionRenderParameters(
        skinTone: .skinMedium,
        palette: [.init(.steelBlue, weight: 1)], radius: 0.3, asymmetry: 0.05, borderSharpness: 0.6,
        shine: 0.2, style: .clinicalPhoto)

    static let all: [(String, LesionRenderParameters)] = [
        ("nevus", nevus), ("melanoma", melanoma), ("bcc", bcc), ("seborrheic keratosis", seborrheicKeratosis),
        ("dermatofibroma", dermatofibroma), ("actinic keratosis", actinicKeratosis),
        ("hemangioma", hemangioma), ("blue nevus", blueNevus),
    ]
}
