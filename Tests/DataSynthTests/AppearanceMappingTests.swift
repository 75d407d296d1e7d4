import Domain
import Foundation
import Testing
@testable import DataSynth

/// A benign-looking melanocytic appearance; the tests change one hallmark at a time.
private let benign = LesionAppearance(
    palette: [.lightBrown, .darkBrown], asymmetry: ParameterRange(0, 0.2),
    borderIrregularity: ParameterRange(0, 0.2), pigmentNetwork: .regular, dotsGlobules: .absent,
    streaks: .absent, blueWhiteVeil: false, vessels: .none, scaleCrust: .none,
    sizeMillimetres: ParameterRange(4, 6), surface: .flat, multiplicity: .solitary)

@Suite struct AppearanceMappingTests {
    @Test func sampledValuesStayInsideTheRuleRanges() throws {
        for seed in UInt64(0)..<20 {
            let p = try LesionRenderParameters(appearance: benign, seed: seed)
            #expect(p.asymmetry >= 0 && p.asymmetry <= 0.2)
            #expect(p.borderIrregularity >= 0 && p.borderIrregularity <= 0.2)
            #expect(p.palette.count == 2 && p.palette[0].colour == .lightBrown)
            #expect(p.network.regularity >= 0.8 && p.veil == .none && p.vessels == .none)
        }
    }

    @Test func oneDifferingHallmarkChangesOnlyItsKnobs() throws {
        var veiled = benign
        veiled.blueWhiteVeil = true
        let a = try LesionRenderParameters(appearance: benign, seed: 5)
        var b = try LesionRenderParameters(appearance: veiled, seed: 5)
        #expect(b.veil.strength > 0.5)
        b.veil = a.veil
        #expect(a == b, "parameters other than the veil changed")
    }

    @Test func veilHallmarkIsVisibleInTheImage() throws {
        var veiled = benign
        veiled.blueWhiteVeil = true
        var plain: Float = 0, blue: Float = 0
        for seed in UInt64(1)...6 {
            plain += Measure.blueShare(try LesionRenderer.render(LesionRenderParameters(appearance: benign, seed: seed), size: 64, seed: seed), within: 0.15)
            blue += Measure.blueShare(try LesionRenderer.render(LesionRenderParameters(appearance: veiled, seed: seed), size: 64, seed: seed), within: 0.15)
        }
        #expect(blue > plain + 0.12, "blue share without veil \(plain / 6), with \(blue / 6)")
    }

    @Test(arguments: VesselType.allCases.filter { $0 != .none })
    func everyVesselTypeIsDrawn(_ vessel: VesselType) throws {
        var appearance = benign
        appearance.palette = [.pink]
        appearance.pigmentNetwork = .absent
        appearance.vessels = vessel
        var plainAppearance = appearance
        plainAppearance.vessels = .none
        var red = 0, plain = 0
        for seed in UInt64(1)...4 {
            red += Measure.redPixels(try LesionRenderer.render(LesionRenderParameters(appearance: appearance, seed: seed), size: 128, seed: seed))
            plain += Measure.redPixels(try LesionRenderer.render(LesionRenderParameters(appearance: plainAppearance, seed: seed), size: 128, seed: seed))
        }
        #expect(red > plain + 40, "\(vessel): red pixels \(plain) -> \(red)")
    }

    @Test func largerLesionsAreDrawnLarger() throws {
        var large = benign
        large.sizeMillimetres = ParameterRange(15, 20)
        let small = try LesionRenderParameters(appearance: benign, seed: 1)
        let big = try LesionRenderParameters(appearance: large, seed: 1)
        #expect(big.radius > small.radius * 1.5, "radius \(small.radius) vs \(big.radius)")
    }

    @Test func widespreadAppearanceHasSatellites() throws {
        var rash = benign
        rash.multiplicity = .widespread
        rash.surface = .vesicular
        let p = try LesionRenderParameters(appearance: rash, seed: 3)
        #expect(p.satellites.count >= 8 && p.vesicles.count > 0)
        let image = try LesionRenderer.render(p, size: 96, seed: 3)
        let solitary = try LesionRenderer.render(LesionRenderParameters(appearance: benign, seed: 3), size: 96, seed: 3)
        #expect(Measure.meanAbsoluteDifference(image, solitary) > 3)
    }

    @Test func invalidAppearanceIsRefusedWithItsProblem() {
        var broken = benign
        broken.palette = []
        #expect { try LesionRenderParameters(appearance: broken, seed: 1) } throws: {
            ($0 as? ImageError)?.description.contains("palette is empty") == true
        }
    }

    /// Every rule shipped in the knowledge files maps to valid parameters and renders.
    @Test func everyShippedRuleRenders() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Shared/Knowledge/data/diagnostic_rules.json")
        let file = try JSONDecoder().decode(DiagnosticRulesFile.self, from: Data(contentsOf: url))
        #expect(!file.rules.isEmpty)
        for (i, rule) in file.rules.enumerated() {
            for style in LesionRenderParameters.ImagingStyle.allCases {
                let p = try LesionRenderParameters(appearance: rule.hallmarks, style: style, seed: UInt64(i))
                let image = try LesionRenderer.render(p, size: 32, seed: UInt64(i))
                #expect(image.width == 32)
            }
        }
    }
}
