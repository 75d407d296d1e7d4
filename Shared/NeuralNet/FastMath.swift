// Vectorised exp for the element-wise layers (softmax, GELU). libm's scalar expf/tanhf
// calls cost more than all the matmuls of the MLP put together at nano sizes, so these
// run 16 lanes at a time. Accuracy: about 2 ulp over the clamped range (Cephes' expf
// polynomial with a two-constant ln 2 reduction).

typealias F16 = SIMD16<Float>

@inline(__always)
func vexp(_ x0: F16) -> F16 {
    #if DEBUG
    // Unoptimised builds run generic SIMD code lane by lane through witness tables, 50x
    // slower than this scalar loop over the same polynomial; release builds take the
    // vector path below. Both compute expPolynomial.
    var out = F16()
    for i in 0..<16 { out[i] = expPolynomial(x0[i]) }
    return out
    #else
    // (replacing(with:where:) compiles to compare-and-blend; pointwiseMin/Max do not vectorise)
    let x = x0.replacing(with: 88.0, where: x0 .> 88.0).replacing(with: -87.0, where: x0 .< -87.0)
    // n = round(x / ln 2) by the 1.5 * 2^23 trick: adding it leaves the integer in the low mantissa bits
    let magic = F16(repeating: 12_582_912.0)
    let shifted = x * 1.442_695_040_888_963_4 + magic
    let n = shifted - magic
    let r = x - n * 0.693_359_375 - n * -2.121_944_400_546_905_8e-4
    var p = F16(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000   // n as integer
    let scale = unsafeBitCast((bits &+ 127) &<< 23, to: F16.self)
    return p * scale
    #endif
}

/// The scalar twin of `vexp`, lane for lane the same arithmetic.
@inline(__always)
func expPolynomial(_ x0: Float) -> Float {
    let x = max(min(x0, 88), -87)
    let shifted = x * 1.442_695_040_888_963_4 + 12_582_912.0
    let n = shifted - 12_582_912.0
    let r = x - n * 0.693_359_375 - n * -2.121_944_400_546_905_8e-4
    var p: Float = 1.987_569_150_0e-4
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    let e = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
    return p * Float(bitPattern: UInt32(bitPattern: (e &+ 127) &<< 23))
}

@inline(__always)
func load16(_ p: UnsafePointer<Float>, _ count: Int = 16) -> F16 {
    if count >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: F16.self) }
    var v = F16(repeating: 0)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always)
func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ count: Int = 16) {
    if count >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self); return }
    for i in 0..<count { p[i] = v[i] }
}

/// p[i] = exp(p[i] - shift); returns the sum of the results.
@inline(__always)
func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) -> Float {
    var acc = F16(repeating: 0)
    var i = 0
    while i < n {
        let k = min(16, n - i)
        var e = vexp(load16(p + i, k) - shift)
        if k < 16 { for j in k..<16 { e[j] = 0 } }
        acc += e
        store16(e, p + i, k)
        i += 16
    }
    return acc.sum()
}

/// Largest of p[0..<n] (n > 0).
@inline(__always)
func maxOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = F16(repeating: -.infinity)
    var i = 0
    while i + 16 <= n { m = pointwiseMax(m, load16(p + i)); i += 16 }
    var r = m.max()
    while i < n { r = max(r, p[i]); i += 1 }
    return r
}

/// dst[i] += src[i]
@inline(__always)
func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i < n {
        let k = min(16, n - i)
        store16(load16(dst + i, k) + load16(src + i, k), dst + i, k)
        i += 16
    }
}

/// p[i] *= s
@inline(__always)
func scaleInPlace(_ p: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
    var i = 0
    while i < n {
        let k = min(16, n - i)
        store16(load16(p + i, k) * s, p + i, k)
        i += 16
    }
}

/// sum of a[i] * b[i]
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += load16(a + i) * load16(b + i); i += 16 }
    var r = acc.sum()
    while i < n { r += a[i] * b[i]; i += 1 }
    return r
}
