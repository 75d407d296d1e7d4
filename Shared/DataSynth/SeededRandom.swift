import Domain

// The generator is Domain's SplitMix64 (one seeded algorithm for the whole product); the
// renderer adds the float draws it needs.
extension SplitMix64 {
    /// A float uniform in [0, 1).
    @inline(__always)
    mutating func unit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A float uniform in [lo, hi).
    @inline(__always)
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unit() }

    /// An approximately normal float (sum of four uniforms), mean 0, standard deviation 1.
    mutating func gaussian() -> Float {
        (unit() + unit() + unit() + unit() - 2) * 1.7320508
    }
}

/// Stateless integer hashing used by the noise fields (a lattice point and a salt give a
/// fixed value, so noise can be sampled anywhere in any order).
@inline(__always)
func latticeHash(_ x: Int32, _ y: Int32, _ salt: UInt64) -> UInt64 {
    var h = salt ^ (UInt64(UInt32(bitPattern: x)) &* 0x9E37_79B9_7F4A_7C15)
    h ^= UInt64(UInt32(bitPattern: y)) &* 0xC2B2_AE3D_27D4_EB4F
    h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
    h = (h ^ (h >> 32)) &* 0x94D0_49BB_1331_11EB
    return h ^ (h >> 29)
}

@inline(__always)
func hashUnit(_ h: UInt64) -> Float { Float(h >> 40) * (1.0 / 16_777_216.0) }

/// Smooth 2-D value noise in [0, 1]: random values on the integer lattice, blended with a
/// quintic fade so the field has no visible grid creases.
struct ValueNoise: Sendable {
    let salt: UInt64

    init(salt: UInt64) { self.salt = salt }

    @inline(__always)
    func callAsFunction(_ x: Float, _ y: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int32(truncatingIfNeeded: Int(fx)), iy = Int32(truncatingIfNeeded: Int(fy))
        let tx = x - fx, ty = y - fy
        let ux = tx * tx * tx * (tx * (tx * 6 - 15) + 10)
        let uy = ty * ty * ty * (ty * (ty * 6 - 15) + 10)
        let a = hashUnit(latticeHash(ix, iy, salt))
        let b = hashUnit(latticeHash(ix &+ 1, iy, salt))
        let c = hashUnit(latticeHash(ix, iy &+ 1, salt))
        let d = hashUnit(latticeHash(ix &+ 1, iy &+ 1, salt))
        let top = a + (b - a) * ux
        let bottom = c + (d - c) * ux
        return top + (bottom - top) * uy
    }

    /// Fractal sum of `octaves` layers, each twice the frequency and half the weight; in [0, 1].
    @inline(__always)
    func fbm(_ x: Float, _ y: Float, octaves: Int) -> Float {
        var sum: Float = 0, weight: Float = 0.5, total: Float = 0
        var fx = x, fy = y
        for _ in 0..<octaves {
            sum += weight * self(fx, fy)
            total += weight
            weight *= 0.5
            fx = fx * 2.03 + 17.1
            fy = fy * 2.03 - 9.7
        }
        return sum / total
    }
}

/// Cellular (Worley) noise: one jittered feature point per lattice cell. `F2 - F1` is small
/// on the cell borders, which draws a honeycomb-like mesh, the shape of a pigment network.
struct CellularNoise: Sendable {
    let salt: UInt64
    /// 0 puts every point in the cell centre (a regular mesh), 1 anywhere in the cell.
    let jitter: Float

    /// (F1, F2): distances to the nearest and second-nearest feature points.
    @inline(__always)
    func distances(_ x: Float, _ y: Float) -> (Float, Float) {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int32(truncatingIfNeeded: Int(fx)), iy = Int32(truncatingIfNeeded: Int(fy))
        var f1: Float = 9, f2: Float = 9
        for oy: Int32 in -1...1 {
            for ox: Int32 in -1...1 {
                let cellY = iy &+ oy
                let h = latticeHash(ix &+ ox, cellY, salt)
                let jx = (hashUnit(h) - 0.5) * jitter
                let jy = (Float((h >> 8) & 0xFFFF) * (1.0 / 65_536.0) - 0.5) * jitter
                // Odd rows shift half a cell (a brick lattice), so a regular mesh is
                // honeycomb-like rather than square.
                let rowShift: Float = (cellY & 1) == 0 ? 0 : 0.5
                let px = fx + Float(ox) + 0.5 + rowShift + jx - x
                let py = fy + Float(oy) + 0.5 + jy - y
                let d = px * px + py * py
                if d < f1 { f2 = f1; f1 = d } else if d < f2 { f2 = d }
            }
        }
        return (f1.squareRoot(), f2.squareRoot())
    }
}
