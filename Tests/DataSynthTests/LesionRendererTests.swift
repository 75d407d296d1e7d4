import Testing
@testable import DataSynth

/// A plain symmetric brown lesion on light skin, the baseline each knob is compared with.
private let base = LesionRenderParameters(
    skinTone: .skinLight,
    palette: [.init(.lightBrown, weight: 1)],
    radius: 0.5, asymmetry: 0, borderIrregularity: 0, borderSharpness: 0.8)

private let seeds: [UInt64] = [1, 2, 3, 4, 5, 6]

private func render(_ p: LesionRenderParameters, _ seed: UInt64, size: Int = 64) throws -> RGBImage {
    try LesionRenderer.render(p, size: size, seed: seed)
}

/// Mean of a measure over the seeds, for the baseline and for a variant.
private func compare(_ variant: LesionRenderParameters, size: Int = 64,
                     _ measure: (RGBImage) -> Float) throws -> (base: Float, variant: Float) {
    var b: Float = 0, v: Float = 0
    for seed in seeds {
        b += measure(try render(base, seed, size: size))
        v += measure(try render(variant, seed, size: size))
    }
    return (b / Float(seeds.count), v / Float(seeds.count))
}

@Suite struct LesionRendererTests {
    @Test func sameSeedGivesTheSameImage() throws {
        for (_, p) in Examples.all {
            #expect(try render(p, 42) == render(p, 42))
        }
    }

    @Test func differentSeedsGiveDifferentImages() throws {
        for (name, p) in Examples.all {
            let d = Measure.meanAbsoluteDifference(try render(p, 1), try render(p, 2))
            #expect(d > 2, "\(name): seeds 1 and 2 differ by only \(d) per channel")
        }
    }

    @Test func outputHasTheRequestedSize() throws {
        for size in [16, 48, 64, 224] {
            let image = try render(Examples.melanoma, 7, size: size)
            #expect(image.width == size && image.height == size && image.pixels.count == size * size * 3)
        }
    }

    @Test func oneSeedDrawsTheSameLesionAtAnyResolution() throws {
        let small = try render(Examples.nevus, 9, size: 64)
        let large = try render(Examples.nevus, 9, size: 224).resized(width: 64, height: 64)
        let other = try render(Examples.nevus, 10, size: 64)
        let same = Measure.meanAbsoluteDifference(small, large)
        let different = Measure.meanAbsoluteDifference(small, other)
        #expect(same < different * 0.6, "64 px vs 224 px downsampled: \(same); another seed: \(different)")
    }

    @Test func invalidParametersAreNamed() {
        var p = base
        p.palette = []
        #expect { try render(p, 1) } throws: { ($0 as? ImageError)?.description.contains("palette") == true }
        p = base
        p.veil = .init(strength: 1.5, extent: 0.5)
        #expect { try render(p, 1) } throws: { ($0 as? ImageError)?.description.contains("veil.strength") == true }
        p = base
        p.radius = .nan
        #expect { try render(p, 1) } throws: { ($0 as? ImageError)?.description.contains("radius") == true }
        #expect { try render(base, 1, size: 4) } throws: { ($0 as? ImageError)?.description.contains("render size") == true }
    }

    @Test func veilRaisesTheBlueShareInTheCentre() throws {
        var p = base
        p.veil = .init(strength: 0.8, extent: 0.6)
        let r = try compare(p) { Measure.blueShare($0, within: 0.2) }
        #expect(r.variant > r.base + 0.03, "blue share \(r.base) -> \(r.variant)")
    }

    @Test func networkAddsHighFrequencyEnergy() throws {
        var p = base
        p.network = .init(density: 0.5, contrast: 0.8, regularity: 0.8)
        let r = try compare(p, size: 128) { Measure.highFrequencyEnergy($0, within: 0.3) }
        #expect(r.variant > r.base * 1.5, "laplacian energy \(r.base) -> \(r.variant)")
    }

    @Test func atypicalNetworkDiffersFromTypical() throws {
        var typical = base, atypical = base
        typical.network = .init(density: 0.5, contrast: 0.8, regularity: 1)
        atypical.network = .init(density: 0.5, contrast: 0.8, regularity: 0)
        var d: Float = 0
        for seed in seeds { d += Measure.meanAbsoluteDifference(try render(typical, seed, size: 128), try render(atypical, seed, size: 128)) }
        #expect(d / Float(seeds.count) > 1.5, "typical vs atypical network differ by \(d / Float(seeds.count))")
    }

    @Test(arguments: LesionRenderParameters.VesselPattern.allCases.filter { $0 != .none })
    func vesselsAddThinRedStructures(_ pattern: LesionRenderParameters.VesselPattern) throws {
        var p = base
        p.vessels = .init(pattern: pattern, density: 0.7)
        let r = try compare(p, size: 128) { Float(Measure.redPixels($0)) }
        #expect(r.base < 1 && r.variant > 20, "\(pattern): red pixels \(r.base) -> \(r.variant)")
    }

    @Test func globulesAddDarkDots() throws {
        var p = base
        p.globules = .init(count: 30, size: 0.06, colour: .black, peripheral: 0.3, irregularity: 0.2)
        let r = try compare(p) { Float(Measure.darkPixels($0, below: 0.25, from: 0, to: 0.6)) }
        #expect(r.variant > r.base + 15, "dark pixels \(r.base) -> \(r.variant)")
    }

    @Test func peripheralGlobulesSitFurtherOut() throws {
        var central = base, peripheral = base
        central.globules = .init(count: 30, size: 0.05, colour: .black, peripheral: 0, irregularity: 0)
        peripheral.globules = .init(count: 30, size: 0.05, colour: .black, peripheral: 1, irregularity: 0)
        var inner: Float = 0, outer: Float = 0
        for seed in seeds {
            inner += Float(Measure.darkPixels(try render(central, seed), below: 0.25, from: 0.3, to: 0.7))
            outer += Float(Measure.darkPixels(try render(peripheral, seed), below: 0.25, from: 0.3, to: 0.7))
        }
        #expect(outer > inner * 2, "dark pixels in the rim: central \(inner), peripheral \(outer)")
    }

    @Test func streaksReachBeyondTheBorder() throws {
        var b = base
        b.palette = [.init(.darkBrown, weight: 0.5), .init(.lightBrown, weight: 0.5)]
        b.radius = 0.35
        var p = b
        p.streaks = .init(count: 12, length: 0.45, arc: 1)
        var without: Float = 0, with: Float = 0
        for seed in seeds {
            without += Float(Measure.darkPixels(try render(b, seed, size: 128), below: 0.45, from: 0.52, to: 0.9))
            with += Float(Measure.darkPixels(try render(p, seed, size: 128), below: 0.45, from: 0.52, to: 0.9))
        }
        #expect(with > without + 30, "dark pixels outside the lesion \(without) -> \(with)")
    }

    @Test func asymmetryBreaksPointSymmetry() throws {
        var p = base
        p.asymmetry = 1
        let r = try compare(p, size: 128) { Measure.reflectionAsymmetry(Measure.lesionMask($0, threshold: 0.62), side: 128) }
        #expect(r.variant > r.base + 0.08, "reflection mismatch \(r.base) -> \(r.variant)")
    }

    @Test func borderIrregularityRoughensTheOutline() throws {
        var p = base
        p.borderIrregularity = 1
        let r = try compare(p, size: 128) { Measure.boundaryRoughness(Measure.lesionMask($0, threshold: 0.62), side: 128) }
        #expect(r.variant > r.base * 1.1, "boundary roughness \(r.base) -> \(r.variant)")
    }

    @Test func blurredBorderHasMoreIntermediateTones() throws {
        var sharp = base, soft = base
        sharp.borderSharpness = 1
        soft.borderSharpness = 0
        func intermediate(_ image: RGBImage) -> Float {
            var count: Float = 0
            Measure.forEachPixel(image, within: 0.9) { _, _, r, g, b in
                let l = 0.299 * r + 0.587 * g + 0.114 * b
                if l > 0.56 && l < 0.70 { count += 1 }
            }
            return count
        }
        var s: Float = 0, f: Float = 0
        for seed in seeds {
            s += intermediate(try render(sharp, seed, size: 128))
            f += intermediate(try render(soft, seed, size: 128))
        }
        #expect(f > s * 2, "pixels between lesion and skin tone: sharp \(s), soft \(f)")
    }

    @Test func scaleAndWhiteAreaBrightenTheLesion() throws {
        var scaly = base, scarred = base
        scaly.scale = .init(amount: 0.8, colour: .yellowWhite)
        scarred.whiteArea = .init(strength: 0.9, extent: 0.5)
        let s = try compare(scaly) { Measure.meanLuma($0, within: 0.3) }
        let w = try compare(scarred) { Measure.meanLuma($0, within: 0.15) }
        #expect(s.variant > s.base + 0.05, "scale: luma \(s.base) -> \(s.variant)")
        #expect(w.variant > w.base + 0.1, "white area: luma \(w.base) -> \(w.variant)")
    }

    @Test func shineAddsAHighlight() throws {
        var p = base
        p.shine = 1
        let r = try compare(p) { Measure.maxLuma($0, within: 0.4) }
        #expect(r.variant > r.base + 0.15, "brightest lesion pixel \(r.base) -> \(r.variant)")
    }

    @Test func paletteSetsTheLesionColour() throws {
        var p = base
        p.palette = [.init(.steelBlue, weight: 1)]
        let r = try compare(p) { Measure.blueShare($0, within: 0.25) }
        #expect(r.variant > 0.38 && r.base < 0.3, "blue share brown \(r.base), steel blue \(r.variant)")
    }

    @Test func dermoscopyHasADarkCircularVignetteAndClinicalPhotosDoNot() throws {
        var clinical = base
        clinical.style = .clinicalPhoto
        for seed in seeds {
            let d = try render(base, seed).pixel(x: 0, y: 0)
            let c = try render(clinical, seed).pixel(x: 0, y: 0)
            #expect(Int(d.r) + Int(d.g) + Int(d.b) < 45, "dermoscopy corner \(d)")
            #expect(Int(c.r) + Int(c.g) + Int(c.b) > 300, "clinical corner \(c)")
        }
    }

    @Test func domainShiftChangesTheLookButZeroStrengthDoesNot() throws {
        var shifted = Examples.nevus, neutral = Examples.nevus
        shifted.domainShift = .outOfDistribution(strength: 1)
        neutral.domainShift = .outOfDistribution(strength: 0)
        for seed in seeds.prefix(3) {
            let original = try render(Examples.nevus, seed)
            #expect(try render(neutral, seed) == original)
            let d = Measure.meanAbsoluteDifference(original, try render(shifted, seed))
            #expect(d > 8, "domain shift moved pixels by only \(d)")
        }
    }
}
