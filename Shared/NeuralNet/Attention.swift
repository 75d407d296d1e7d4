import Foundation

// Multi-head self-attention and the GELU of the MLP, forward and backward side by side.
// Legend: B batch, L sequence length, C channels, H heads, hs = C/H.
// qkv rows hold q | k | v, each (C) split into H heads of hs.

/// The naive reference of `attentionForward`: every query against every key (L x L scores),
/// the masks applied in the softmax.
func attentionForwardNaive(_ out: UnsafeMutablePointer<Float>, _ att: UnsafeMutablePointer<Float>,
                      _ qkv: UnsafePointer<Float>,
                      _ b: Int, _ l: Int, _ c: Int, _ h: Int, _ causal: Bool, holes: UnsafePointer<Int32>? = nil) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    parallelWithSerialBLAS(b * h) { range in
        for bh in range {
            let bi = bh / h, hi = bh % h
            let q = qkv + bi * l * c3 + hi * hs
            let k = q + c, v = q + 2 * c
            let p = att + (bi * h + hi) * l * l
            gemm(false, true, l, l, hs, scale, q, c3, k, c3, 0, p, l)
            for t in 0..<l {
                let valid = causal ? t + 1 : l
                if let holes, case let (lo, hi) = (Int(holes[(bi * l + t) * 2]), Int(holes[(bi * l + t) * 2 + 1])), hi > lo {
                    softmaxRow(p + t * l, valid, l, hole: lo..<hi)
                } else {
                    softmaxRow(p + t * l, valid, l)
                }
            }
            gemm(false, false, l, hs, l, 1, p, l, v, c3, 0, out + bi * l * c + hi * hs, c)
        }
    }
}

/// Rows of queries computed together, so that a block skips the keys none of its rows sees.
let attentionQueryBlock = 32

/// The query blocks of batch row bi: consecutive rows that share a hole, at most
/// `attentionQueryBlock` of them when causal, each with the key ranges its rows may attend
/// (up to the block's last row when causal, the hole left out). Row t of a block attends to a
/// part of these (up to t); the softmax zeroes the rest.
func attentionBlocks(_ bi: Int, _ l: Int, _ causal: Bool, _ holes: UnsafePointer<Int32>?) -> [(rows: Range<Int>, keys: [Range<Int>])] {
    guard causal else { return [(0..<l, [0..<l])] }
    func hole(_ t: Int) -> (Int, Int) {
        guard let holes else { return (0, 0) }
        return (Int(holes[(bi * l + t) * 2]), Int(holes[(bi * l + t) * 2 + 1]))
    }
    var blocks: [(rows: Range<Int>, keys: [Range<Int>])] = []
    var r0 = 0
    while r0 < l {
        let h0 = hole(r0)
        var r1 = r0 + 1
        while r1 < l, r1 - r0 < attentionQueryBlock, hole(r1) == h0 { r1 += 1 }
        let keys = h0.1 > h0.0 ? [0..<h0.0, h0.1..<r1] : [0..<r1]
        blocks.append((r0..<r1, keys.filter { !$0.isEmpty }))
        r0 = r1
    }
    return blocks
}

/// out (B, L, C) = softmax(q k^T / sqrt(hs) [+ causal mask]) v, per batch row and head.
/// att (B, H, L, L) keeps the probabilities for the backward (masked entries are 0).
/// `holes` (B, L, 2), for branched rows: query (b, t) does not attend to keys [lo, hi) either.
/// Queries go in blocks (`attentionBlocks`) that compute only the keys their rows can see:
/// about half of the L x L products when causal, less with holes.
func attentionForward(_ out: UnsafeMutablePointer<Float>, _ att: UnsafeMutablePointer<Float>,
                      _ qkv: UnsafePointer<Float>,
                      _ b: Int, _ l: Int, _ c: Int, _ h: Int, _ causal: Bool, holes: UnsafePointer<Int32>? = nil) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    let blocks = (0..<b).map { attentionBlocks($0, l, causal, holes) }
    parallelWithSerialBLAS(b * h) { range in
        for bh in range {
            let bi = bh / h, hi = bh % h
            let q = qkv + bi * l * c3 + hi * hs
            let k = q + c, v = q + 2 * c
            let p = att + (bi * h + hi) * l * l
            let o = out + bi * l * c + hi * hs
            for (rows, keys) in blocks[bi] {
                let r0 = rows.lowerBound, m = rows.count
                for kr in keys {
                    gemm(false, true, m, kr.count, hs, scale, q + r0 * c3, c3, k + kr.lowerBound * c3, c3, 0,
                         p + r0 * l + kr.lowerBound, l)
                }
                for t in rows {
                    // Entries no range covers are written by the softmax (as 0), never read before.
                    let valid = causal ? t + 1 : l
                    if keys.count == 2 {
                        softmaxRow(p + t * l, valid, l, hole: keys[0].upperBound..<keys[1].lowerBound)
                    } else {
                        softmaxRow(p + t * l, valid, l)
                    }
                }
                for (i, kr) in keys.enumerated() {
                    gemm(false, false, m, hs, kr.count, 1, p + r0 * l + kr.lowerBound, l, v + kr.lowerBound * c3, c3,
                         i == 0 ? 0 : 1, o + r0 * c, c)
                }
            }
        }
    }
}

/// Accumulates dqkv (B, L, 3C), block by block as the forward ran. Batch rows and heads run in
/// parallel; each worker has its own L*L scratch for dP, of which only the blocks' key ranges
/// are written and read.
func attentionBackward(_ dqkv: UnsafeMutablePointer<Float>,
                       _ dout: UnsafePointer<Float>, _ qkv: UnsafePointer<Float>, _ att: UnsafePointer<Float>,
                       _ b: Int, _ l: Int, _ c: Int, _ h: Int, _ causal: Bool, holes: UnsafePointer<Int32>? = nil) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    let blocks = (0..<b).map { attentionBlocks($0, l, causal, holes) }
    parallelWithSerialBLAS(b * h) { range in
        let dp = UnsafeMutablePointer<Float>.allocate(capacity: l * l)
        defer { dp.deallocate() }
        for bh in range {
            let bi = bh / h, hi = bh % h
            let q = qkv + bi * l * c3 + hi * hs
            let k = q + c, v = q + 2 * c
            let dq = dqkv + bi * l * c3 + hi * hs
            let dk = dq + c, dv = dq + 2 * c
            let p = att + (bi * h + hi) * l * l
            let dy = dout + bi * l * c + hi * hs
            for (rows, keys) in blocks[bi] {
                let r0 = rows.lowerBound, m = rows.count
                for kr in keys {
                    let kl = kr.lowerBound
                    gemm(false, true, m, kr.count, hs, 1, dy + r0 * c, c, v + kl * c3, c3, 0, dp + r0 * l + kl, l)  // dP = dy v^T
                    gemm(true, false, kr.count, hs, m, 1, p + r0 * l + kl, l, dy + r0 * c, c, 1, dv + kl * c3, c3)  // dv += P^T dy
                }
                for t in rows {                                  // dS = P * (dP - <P, dP>) * scale
                    let pr = p + t * l, dr = dp + t * l
                    let n = causal ? t + 1 : l                   // beyond it P is 0, so dS is 0 too
                    var pd: Float = 0
                    for kr in keys where min(kr.upperBound, n) > kr.lowerBound {
                        pd += dot(pr + kr.lowerBound, dr + kr.lowerBound, min(kr.upperBound, n) - kr.lowerBound)
                    }
                    for kr in keys {
                        let end = max(kr.lowerBound, min(kr.upperBound, n))
                        var j = kr.lowerBound
                        while j < end {
                            let w = min(16, end - j)
                            let ds: F16 = load16(pr + j, w) * (load16(dr + j, w) - pd) * scale
                            store16(ds, dr + j, w)
                            j += 16
                        }
                        (dr + end).update(repeating: 0, count: kr.upperBound - end)
                    }
                }
                for kr in keys {
                    let kl = kr.lowerBound
                    gemm(false, false, m, hs, kr.count, 1, dp + r0 * l + kl, l, k + kl * c3, c3, 1, dq + r0 * c3, c3)  // dq += dS k
                    gemm(true, false, kr.count, hs, m, 1, dp + r0 * l + kl, l, q + r0 * c3, c3, 1, dk + kl * c3, c3)  // dk += dS^T q
                }
            }
        }
    }
}

/// Rotary positions on the q and k thirds of qkv (B, L, 3C), rows at positions
/// firstPosition..<firstPosition+L (or `positions` (B, L) when given): in every head, the pair
/// (2i, 2i+1) of the vector at position p turns by the angle p * 10000^(-2i/hs), so that q.k
/// depends on the distance between positions only. `inverse` turns back by the same angle,
/// which is the backward of the rotation (an orthogonal map's transpose is its inverse).
func rotaryInPlace(_ qkv: UnsafeMutablePointer<Float>, _ b: Int, _ l: Int, _ c: Int, _ h: Int,
                   firstPosition: Int = 0, positions: UnsafePointer<Int32>? = nil, inverse: Bool) {
    let hs = c / h, half = hs / 2
    let span = positions.map { p in Int((0..<(b * l)).map { p[$0] }.max() ?? 0) + 1 } ?? l
    var cosines = [Float](repeating: 0, count: span * half), sines = cosines
    for t in 0..<span {
        for i in 0..<half {
            let angle = Double(firstPosition + t) * pow(10_000, -2 * Double(i) / Double(hs))
            cosines[t * half + i] = Float(cos(angle))
            sines[t * half + i] = Float(inverse ? -sin(angle) : sin(angle))
        }
    }
    for row in 0..<(b * l) {
        let t = positions.map { Int($0[row]) } ?? row % l
        for part in 0..<2 {                       // q, then k
            for hi in 0..<h {
                let v = qkv + row * 3 * c + part * c + hi * hs
                for i in 0..<half {
                    let (x, y) = (v[2 * i], v[2 * i + 1])
                    let (co, si) = (cosines[t * half + i], sines[t * half + i])
                    v[2 * i] = x * co - y * si
                    v[2 * i + 1] = x * si + y * co
                }
            }
        }
    }
}

/// In-place softmax of row[0..<valid] without row[hole] (0 < hole.lower, hole.upper < valid),
/// which becomes 0 with row[valid..<width].
func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ valid: Int, _ width: Int, hole: Range<Int>) {
    let lo = hole.lowerBound, hi = hole.upperBound
    let mx = max(maxOf(row, lo), maxOf(row + hi, valid - hi))
    let inverse = 1 / (expShiftedInPlace(row, lo, mx) + expShiftedInPlace(row + hi, valid - hi, mx))
    scaleInPlace(row, inverse, lo)
    scaleInPlace(row + hi, inverse, valid - hi)
    (row + lo).update(repeating: 0, count: hi - lo)
    (row + valid).update(repeating: 0, count: width - valid)
}

/// In-place softmax of row[0..<valid]; row[valid..<width] becomes 0.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ valid: Int, _ width: Int) {
    let mx = maxOf(row, valid)
    scaleInPlace(row, 1 / expShiftedInPlace(row, valid, mx), valid)
    for j in valid..<width { row[j] = 0 }
}

/// The naive reference of `attentionBackward`: full L x L products.
/// Accumulates dqkv (B, L, 3C). Batch rows and heads run in parallel; each worker has
/// its own L*L scratch for dP.
func attentionBackwardNaive(_ dqkv: UnsafeMutablePointer<Float>,
                       _ dout: UnsafePointer<Float>, _ qkv: UnsafePointer<Float>, _ att: UnsafePointer<Float>,
                       _ b: Int, _ l: Int, _ c: Int, _ h: Int, _ causal: Bool) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    parallelWithSerialBLAS(b * h) { range in
        let dp = UnsafeMutablePointer<Float>.allocate(capacity: l * l)
        defer { dp.deallocate() }
        for bh in range {
            let bi = bh / h, hi = bh % h
            let q = qkv + bi * l * c3 + hi * hs
            let k = q + c, v = q + 2 * c
            let dq = dqkv + bi * l * c3 + hi * hs
            let dk = dq + c, dv = dq + 2 * c
            let p = att + (bi * h + hi) * l * l
            let dy = dout + bi * l * c + hi * hs
            gemm(false, true, l, l, hs, 1, dy, c, v, c3, 0, dp, l)      // dP = dy v^T
            gemm(true, false, l, hs, l, 1, p, l, dy, c, 1, dv, c3)      // dv += P^T dy
            for t in 0..<l {                                             // dS = P * (dP - <P, dP>) * scale
                let pr = p + t * l, dr = dp + t * l
                let n = causal ? t + 1 : l   // beyond it P is 0, so dS is 0 too
                let pd = dot(pr, dr, n)
                var j = 0
                while j < n {
                    let k = min(16, n - j)
                    let ds: F16 = load16(pr + j, k) * (load16(dr + j, k) - pd) * scale
                    store16(ds, dr + j, k)
                    j += 16
                }
                for j in n..<l { dr[j] = 0 }
            }
            gemm(false, false, l, hs, l, 1, dp, l, k, c3, 1, dq, c3)    // dq += dS k
            gemm(true, false, l, hs, l, 1, dp, l, q, c3, 1, dk, c3)     // dk += dS^T q
        }
    }
}

// GELU, tanh approximation: y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as x * sigmoid(2u): one exp, no tanh.
private let geluK: Float = 0.7978845608028654

func geluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int) {
    parallelRanges(n / 16 + 1, minPerThread: 1024) { r in geluForwardSerial(out, inp, min(n, r.lowerBound * 16), min(n, r.upperBound * 16)) }
}

private func geluForwardSerial(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ start: Int, _ n: Int) {
    var i = start
    while i < n {
        let k = min(16, n - i)
        let x = load16(inp + i, k)
        let u: F16 = geluK * (x + 0.044715 * x * x * x)
        let y: F16 = x / (1 + vexp(-2 * u))     // 0.5 x (1 + tanh u) = x sigmoid(2u)
        store16(y, out + i, k)
        i += 16
    }
}

/// Accumulates dinp.
func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                  _ dout: UnsafePointer<Float>, _ n: Int) {
    parallelRanges(n / 16 + 1, minPerThread: 1024) { r in
        geluBackwardSerial(dinp, inp, dout, min(n, r.lowerBound * 16), min(n, r.upperBound * 16))
    }
}

private func geluBackwardSerial(_ dinp: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                _ dout: UnsafePointer<Float>, _ start: Int, _ n: Int) {
    var i = start
    while i < n {
        let k = min(16, n - i)
        let x = load16(inp + i, k)
        let x2: F16 = x * x
        let u: F16 = geluK * (x + 0.044715 * x2 * x)
        let sg: F16 = 1 / (1 + vexp(-2 * u))        // sigmoid(2u) = (1 + tanh u) / 2
        let du: F16 = geluK * (1 + 3 * 0.044715 * x2)
        let grad: F16 = sg + 2 * x * sg * (1 - sg) * du
        let acc: F16 = load16(dinp + i, k) + grad * load16(dout + i, k)
        store16(acc, dinp + i, k)
        i += 16
    }
}
