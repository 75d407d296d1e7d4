import Testing
@testable import DataSynth

@Suite struct JPEGTests {
    @Test func roundTripKeepsTheImage() throws {
        let image = try LesionRenderer.render(Examples.melanoma, size: 96, seed: 3)
        for (quality, minimum) in [(95, 34.0), (75, 28.0)] {
            let bytes = try JPEG.encode(image, quality: quality)
            let decoded = try JPEG.decode(bytes)
            #expect(decoded.width == 96 && decoded.height == 96)
            let psnr = Measure.psnr(image, decoded)
            #expect(psnr > minimum, "quality \(quality): PSNR \(psnr) dB")
        }
    }

    @Test func dimensionsComeFromTheHeader() throws {
        let image = RGBImage(width: 40, height: 24, fill: (10, 200, 30))
        let bytes = try JPEG.encode(image, quality: 90, subsampling: .none444)
        let size = try JPEG.dimensions(bytes)
        #expect(size.width == 40 && size.height == 24)
        let decoded = try JPEG.decode(bytes)
        let p = decoded.pixel(x: 20, y: 12)
        #expect(abs(Int(p.g) - 200) < 4 && abs(Int(p.r) - 10) < 4)
    }

    @Test func notAJPEGIsAHeaderError() {
        #expect { try JPEG.decode(Array("hello, not an image".utf8)) } throws: {
            ($0 as? JPEGError)?.step == .header
        }
        #expect { try JPEG.decode([]) } throws: { ($0 as? JPEGError)?.step == .header }
    }

    @Test func truncatedJPEGIsAnErrorNotACrash() throws {
        let bytes = try JPEG.encode(try LesionRenderer.render(Examples.bcc, size: 64, seed: 1), quality: 90)
        let truncated = Array(bytes.prefix(bytes.count / 2))
        #expect { try JPEG.decode(truncated) } throws: { error in
            guard let e = error as? JPEGError else { return false }
            return e.step == .corruptData || e.step == .decompression
        }
        // Tolerant decoding returns the image libjpeg could recover.
        let partial = try JPEG.decode(truncated, tolerateWarnings: true)
        #expect(partial.width == 64)
    }

    @Test func corruptedBodyIsAnError() throws {
        var bytes = try JPEG.encode(try LesionRenderer.render(Examples.nevus, size: 64, seed: 1), quality: 90)
        // Overwrite the middle of the entropy-coded data with markers that cannot occur there.
        let middle = bytes.count / 2
        for i in middle..<(middle + 40) { bytes[i] = i % 2 == 0 ? 0xFF : 0xD9 }
        var failed = false
        do { _ = try JPEG.decode(bytes) } catch { failed = true }
        #expect(failed)
    }

    @Test func badHeaderFieldsAreErrors() throws {
        var bytes = try JPEG.encode(RGBImage(width: 16, height: 16), quality: 80)
        // Cut inside the header segments.
        bytes = Array(bytes.prefix(30))
        #expect { try JPEG.decode(bytes) } throws: { ($0 as? JPEGError)?.step == .header }
    }

    @Test func qualityOutsideRangeIsRefused() {
        #expect { try JPEG.encode(RGBImage(width: 8, height: 8), quality: 0) } throws: {
            ($0 as? JPEGError)?.description.contains("quality 0") == true
        }
    }
}
