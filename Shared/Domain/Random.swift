/// A small seeded generator (SplitMix64) used for every random choice in the domain core,
/// so that questions, distractors and trajectories are reproducible from a seed on every
/// platform and Swift version (the standard library's own shuffling is not promised to stay
/// stable, so the helpers below do their own index arithmetic).
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one named stream under a run seed (e.g. one question of one case),
    /// so that adding or removing an item does not shift the randomness of the others.
    public init(seed: UInt64, stream: String) {
        state = seed ^ StableHash.fnv1a64(stream)
        // One warm-up step decorrelates nearby seeds.
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform integer in 0..<bound (bound > 0), by rejection so that no value is favoured.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let b = UInt64(bound)
        let limit = UInt64.max - (UInt64.max % b)
        while true {
            let x = next()
            if x < limit { return Int(x % b) }
        }
    }

    /// Uniform integer in the closed range.
    public mutating func nextInt(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextInt(below: range.upperBound - range.lowerBound + 1)
    }

    /// Uniform double in [0, 1) from the top 53 bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Fisher-Yates shuffle in place.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            if i != j { items.swapAt(i, j) }
        }
    }

    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var copy = items
        shuffle(&copy)
        return copy
    }

    /// One element chosen uniformly, or nil for an empty array.
    public mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[nextInt(below: items.count)]
    }
}

/// A hash of text that is the same in every process (Swift's `Hasher` is seeded per
/// process, so it cannot derive reproducible seeds).
public enum StableHash {
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
