import Testing
@testable import NeuralNet

/// The square's eight symmetries of a policy image (`PolicyImage.symmetry`).
struct ImageSymmetryTests {
    /// A 3 x 3 image whose every float is distinct: pixel (x, y) holds 100 y + 10 x + channel.
    static let side = 3
    static let image: [Float] = {
        var values: [Float] = []
        for y in 0..<side {
            for x in 0..<side {
                for channel in 0..<3 { values.append(Float(100 * y + 10 * x + channel)) }
            }
        }
        return values
    }()

    static func pixel(_ image: [Float], x: Int, y: Int) -> [Float] {
        Array(image[((y * side + x) * 3)..<((y * side + x) * 3 + 3)])
    }

    @Test func theIdentityAndOneQuarterTurnMoveThePixelsWhereTheyBelong() {
        #expect(PolicyImage.symmetry(0, of: Self.image, side: Self.side) == Self.image)
        let turned = PolicyImage.symmetry(2, of: Self.image, side: Self.side)
        // A clockwise quarter turn: the top-left pixel goes to the top-right corner, the
        // top-right to the bottom-right, and every pixel keeps its three channels together.
        #expect(Self.pixel(turned, x: 2, y: 0) == Self.pixel(Self.image, x: 0, y: 0))
        #expect(Self.pixel(turned, x: 2, y: 2) == Self.pixel(Self.image, x: 2, y: 0))
        #expect(Self.pixel(turned, x: 0, y: 0) == Self.pixel(Self.image, x: 0, y: 2))
        #expect(Self.pixel(turned, x: 1, y: 1) == Self.pixel(Self.image, x: 1, y: 1))
        let mirrored = PolicyImage.symmetry(1, of: Self.image, side: Self.side)
        #expect(Self.pixel(mirrored, x: 0, y: 1) == Self.pixel(Self.image, x: 2, y: 1))
        #expect(Self.pixel(mirrored, x: 1, y: 0) == Self.pixel(Self.image, x: 1, y: 0))
    }

    @Test func theEightAreDistinctRearrangementsThatComposeAsTheSquaresGroup() {
        let all = (0..<8).map { PolicyImage.symmetry($0, of: Self.image, side: Self.side) }
        #expect(Set(all.map { $0.map(Int.init) }).count == 8, "eight different images")
        for transformed in all { #expect(transformed.sorted() == Self.image.sorted(), "only moves pixels") }
        var fourTurns = Self.image
        for _ in 0..<4 { fourTurns = PolicyImage.symmetry(2, of: fourTurns, side: Self.side) }
        #expect(fourTurns == Self.image)
        #expect(PolicyImage.symmetry(1, of: all[1], side: Self.side) == Self.image, "mirroring twice")
        // Two quarter turns are the half turn (transform 4).
        #expect(PolicyImage.symmetry(2, of: all[2], side: Self.side) == all[4])
        // Every odd transform is its own inverse (a mirror across some axis).
        for odd in [1, 3, 5, 7] { #expect(PolicyImage.symmetry(odd, of: all[odd], side: Self.side) == Self.image) }
    }
}
