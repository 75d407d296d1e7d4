import Testing
@testable import DataSynth

@Suite struct ImageTensorTests {
    @Test func preparedImageIsSquareOfTheInputSide() throws {
        let wide = RGBImage(width: 90, height: 60, fill: (100, 50, 25))
        for side in [32, 48, 100] {
            let out = try wide.preparedForModel(side: side)
            #expect(out.width == side && out.height == side && out.pixels.count == side * side * 3)
        }
    }

    @Test func centreCropKeepsTheMiddle() throws {
        var pixels = [UInt8]()
        for _ in 0..<2 { for x in 0..<6 { pixels += [UInt8(x * 40), 0, 0] } }
        let image = try RGBImage(width: 6, height: 2, pixels: pixels)
        let crop = image.centreCropped()
        #expect(crop.width == 2 && crop.height == 2)
        #expect(crop.pixel(x: 0, y: 0).r == 80 && crop.pixel(x: 1, y: 1).r == 120)
    }

    @Test func shrinkingAveragesInsteadOfAliasing() throws {
        // A one-pixel checkerboard must become mid-grey, not keep one of its phases.
        var pixels = [UInt8]()
        for y in 0..<64 { for x in 0..<64 { let v: UInt8 = (x + y) % 2 == 0 ? 255 : 0; pixels += [v, v, v] } }
        let small = try RGBImage(width: 64, height: 64, pixels: pixels).resized(width: 16, height: 16)
        for i in stride(from: 0, to: small.pixels.count, by: 3) {
            #expect(abs(Int(small.pixels[i]) - 128) < 12)
        }
    }

    @Test func planarTensorIsChannelMajorInUnitRange() throws {
        let image = try RGBImage(width: 2, height: 1, pixels: [255, 0, 51, 0, 255, 102])
        let t = image.planarTensor()
        let expected: [Float] = [1, 0, 0, 1, 0.2, 0.4]
        #expect(zip(t, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(t)")
        let n = image.planarTensor(.imageNet)
        #expect(abs(n[0] - (1 - 0.485) / 0.229) < 1e-5)
        #expect(abs(n[5] - (0.4 - 0.406) / 0.225) < 1e-5)
    }

    @Test func invalidSizesAndStatisticsAreErrors() throws {
        #expect(throws: ImageError.self) { try RGBImage(width: 2, height: 2, pixels: [1, 2, 3]) }
        #expect(throws: ImageError.self) { try RGBImage(width: 4, height: 4).resized(width: 0, height: 4) }
        #expect { try PixelNormalisation(mean: (0, 0, 0), std: (1, 0, 1)) } throws: {
            ($0 as? ImageError)?.description.contains("std.g") == true
        }
    }
}
