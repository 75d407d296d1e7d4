// Linear projections and their LoRA adapters, forward and backward side by side.
// Legend: N rows, I input width, O output width, r LoRA rank, g groups (independent
// adapters on consecutive output blocks, e.g. q | k | v of the fused projection).

/// out (N, O) = inp (N, I) @ weight^T (O, I) + bias (O)
func linearForward(_ out: UnsafeMutablePointer<Float>,
                   _ inp: UnsafePointer<Float>,
                   _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                   _ n: Int, _ i: Int, _ o: Int) {
    if let b = bias {
        for r in 0..<n { (out + r * o).update(from: b, count: o) }
        gemm(false, true, n, o, i, 1, inp, i, weight, i, 1, out, o)
    } else {
        gemm(false, true, n, o, i, 1, inp, i, weight, i, 0, out, o)
    }
}

/// Accumulates dinp (if given), dweight and dbias (if given; nil when frozen).
func linearBackward(_ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
                    _ dbias: UnsafeMutablePointer<Float>?,
                    _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                    _ weight: UnsafePointer<Float>,
                    _ n: Int, _ i: Int, _ o: Int) {
    if let dx = dinp { gemm(false, false, n, i, o, 1, dout, o, weight, i, 1, dx, i) }
    if let dw = dweight { gemm(true, false, o, i, n, 1, dout, o, inp, i, 1, dw, i) }
    if let db = dbias {
        for r in 0..<n {
            let row = dout + r * o
            for j in 0..<o { db[j] += row[j] }
        }
    }
}

/// What a LoRA forward keeps for its backward.
///   h (N, g*r): the down-projection; xdrop (N, I) and mask (N, I): dropped-out input
///   and its scale (0 or 1/(1-p)), only used when dropout is active.
struct LoRACache {
    var h: UnsafeMutablePointer<Float>
    var xdrop: UnsafeMutablePointer<Float>?
    var mask: UnsafeMutablePointer<Float>?
}

/// out (N, O) += scale * dropout(inp) @ A^T @ B^T, group by group:
///   h = dropout(inp) @ A^T            (N, g*r), A: (g*r, I)
///   out[:, k*O/g ..] += scale * h[:, k*r ..] @ B[k*O/g .., :]^T,  B: (O, r)
/// When `rng` is nil there is no dropout (evaluation, or p = 0).
func loraForward(_ out: UnsafeMutablePointer<Float>, _ cache: LoRACache,
                 _ inp: UnsafePointer<Float>,
                 _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                 _ n: Int, _ i: Int, _ o: Int, _ r: Int, _ g: Int, _ scale: Float,
                 _ dropout: Float, _ rng: inout SeededGenerator?) {
    var x = inp
    if var gen = rng, dropout > 0, let xd = cache.xdrop, let mk = cache.mask {
        // One draw from the caller's generator seeds this call; row k then uses its own
        // generator, so the mask does not depend on how rows are split over threads.
        let callSeed = gen.next()
        rng = gen
        let keep = 1 / (1 - dropout)
        let threshold = UInt64(Double(dropout) * 65_536)   // 16-bit uniforms, 4 per draw
        parallelRanges(n, minPerThread: 64) { rows in
            for row in rows {
                var rowGen = SeededGenerator(seed: callSeed &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15)
                var e = row * i
                let end = e + i
                while e < end {
                    var bits = rowGen.next()
                    for z in e..<min(e + 4, end) {
                        let m: Float = (bits & 0xFFFF) < threshold ? 0 : keep
                        bits >>= 16
                        mk[z] = m
                        xd[z] = inp[z] * m
                    }
                    e += 4
                }
            }
        }
        x = UnsafePointer(xd)
    }
    gemm(false, true, n, g * r, i, 1, x, i, a, i, 0, cache.h, g * r)
    let og = o / g
    for k in 0..<g {
        gemm(false, true, n, og, r, scale, cache.h + k * r, g * r, b + k * og * r, r, 1, out + k * og, o)
    }
}

/// Accumulates dinp, dA, dB. `dh` is scratch of N*g*r floats, `dx` scratch of N*I floats
/// (used only with dropout). `dropped` says whether the forward applied dropout.
func loraBackward(_ dinp: UnsafeMutablePointer<Float>, _ da: UnsafeMutablePointer<Float>?,
                  _ db: UnsafeMutablePointer<Float>?,
                  _ dh: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                  _ dout: UnsafePointer<Float>, _ cache: LoRACache, _ inp: UnsafePointer<Float>,
                  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                  _ n: Int, _ i: Int, _ o: Int, _ r: Int, _ g: Int, _ scale: Float, _ dropped: Bool) {
    let og = o / g
    for k in 0..<g {
        if let db = db {
            gemm(true, false, og, r, n, scale, dout + k * og, o, cache.h + k * r, g * r, 1, db + k * og * r, r)
        }
        gemm(false, false, n, r, og, scale, dout + k * og, o, b + k * og * r, r, 0, dh + k * r, g * r)
    }
    let x: UnsafePointer<Float> = dropped ? UnsafePointer(cache.xdrop!) : inp
    if let da = da { gemm(true, false, g * r, i, n, 1, dh, g * r, x, i, 1, da, i) }
    if dropped, let mk = cache.mask {
        gemm(false, false, n, i, g * r, 1, dh, g * r, a, i, 0, dx, i)
        parallelRanges(n * i / 16 + 1, minPerThread: 1024) { r in
            var e = min(n * i, r.lowerBound * 16)
            let end = min(n * i, r.upperBound * 16)
            while e < end {
                let k = min(16, end - e)
                store16(load16(dinp + e, k) + load16(dx + e, k) * load16(mk + e, k), dinp + e, k)
                e += 16
            }
        }
    } else {
        gemm(false, false, n, i, g * r, 1, dh, g * r, a, i, 1, dinp, i)
    }
}
