import Foundation
import Testing
@testable import DataSynth

@Suite struct ContactSheetTests {
    @Test func sheetHasOneTilePerParameterSetAndSeed() throws {
        let sets = Examples.all.map(\.1)
        let bytes = try ContactSheet.jpeg(sets, seeds: [1, 2, 3, 4], tile: 96)
        let decoded = try JPEG.decode(bytes)
        #expect(decoded.width == 4 * 96 + 5 * 4)
        #expect(decoded.height == sets.count * 96 + (sets.count + 1) * 4)
        // For a person to look at: SKINR1_CONTACT_SHEET=/tmp/sheet.jpg swift test ...
        if let path = ProcessInfo.processInfo.environment["SKINR1_CONTACT_SHEET"] {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let shifted = sets.map { p -> LesionRenderParameters in
                var q = p
                q.domainShift = .outOfDistribution(strength: 1)
                return q
            }
            try Data(ContactSheet.jpeg(shifted, seeds: [1, 2, 3, 4], tile: 96))
                .write(to: URL(fileURLWithPath: path + ".ood.jpg"))
        }
    }

    @Test func mismatchedTileSizesAreRefused() throws {
        let a = RGBImage(width: 8, height: 8), b = RGBImage(width: 9, height: 8)
        #expect(throws: ImageError.self) { try ContactSheet.compose([a, b], columns: 2) }
    }
}
