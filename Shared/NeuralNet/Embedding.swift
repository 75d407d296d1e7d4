// Input embeddings, forward and backward side by side.
// Legend: B batch, R image side in pixels, p patch side, N_p patches, P = p*p*3,
// V_n visual tokens, T text tokens, S = V_n + T, C channels.

/// patches (B, N_p, P) from images (B, R, R, 3); patch vector order (row, column, channel).
func patchify(_ patches: UnsafeMutablePointer<Float>, _ images: UnsafePointer<Float>,
              _ b: Int, _ side: Int, _ p: Int) {
    let grid = side / p, pdim = p * p * 3
    for bi in 0..<b {
        let img = images + bi * side * side * 3
        for gy in 0..<grid {
            for gx in 0..<grid {
                var dst = patches + ((bi * grid + gy) * grid + gx) * pdim
                for y in 0..<p {
                    let src = img + ((gy * p + y) * side + gx * p) * 3
                    dst.update(from: src, count: p * 3)
                    dst += p * 3
                }
            }
        }
    }
}

/// out (B, N_p, C) += pos (N_p, C), broadcast over the batch.
func addPositions(_ out: UnsafeMutablePointer<Float>, _ pos: UnsafePointer<Float>, _ b: Int, _ n: Int, _ c: Int) {
    for bi in 0..<b {
        let o = out + bi * n * c
        for e in 0..<(n * c) { o[e] += pos[e] }
    }
}

/// dpos (N_p, C) += sum over batch of dout (B, N_p, C).
func addPositionsBackward(_ dpos: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ b: Int, _ n: Int, _ c: Int) {
    for bi in 0..<b {
        let d = dout + bi * n * c
        for e in 0..<(n * c) { dpos[e] += d[e] }
    }
}

/// out (B, V_n, C): average of each k x k square of the patch grid (B, g, g, C).
func poolForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                 _ b: Int, _ grid: Int, _ k: Int, _ c: Int) {
    let og = grid / k, inv = 1 / Float(k * k)
    for bi in 0..<b {
        for oy in 0..<og {
            for ox in 0..<og {
                let o = out + ((bi * og + oy) * og + ox) * c
                for j in 0..<c { o[j] = 0 }
                for y in 0..<k {
                    for x in 0..<k {
                        let s = inp + ((bi * grid + oy * k + y) * grid + ox * k + x) * c
                        for j in 0..<c { o[j] += s[j] * inv }
                    }
                }
            }
        }
    }
}

/// Accumulates dinp (B, g, g, C).
func poolBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                  _ b: Int, _ grid: Int, _ k: Int, _ c: Int) {
    let og = grid / k, inv = 1 / Float(k * k)
    for bi in 0..<b {
        for oy in 0..<og {
            for ox in 0..<og {
                let d = dout + ((bi * og + oy) * og + ox) * c
                for y in 0..<k {
                    for x in 0..<k {
                        let s = dinp + ((bi * grid + oy * k + y) * grid + ox * k + x) * c
                        for j in 0..<c { s[j] += d[j] * inv }
                    }
                }
            }
        }
    }
}

/// Decoder input x (B, S, C): visual (B, V_n, C) then wte[tokens (B, T)], plus wpe[position].
func decoderEmbedForward(_ x: UnsafeMutablePointer<Float>,
                         _ visual: UnsafePointer<Float>, _ tokens: UnsafePointer<Int32>,
                         _ wte: UnsafePointer<Float>, _ wpe: UnsafePointer<Float>,
                         _ b: Int, _ vn: Int, _ t: Int, _ c: Int, positions: UnsafePointer<Int32>? = nil) {
    let s = vn + t
    for bi in 0..<b {
        for si in 0..<s {
            let o = x + (bi * s + si) * c
            let src = si < vn ? visual + (bi * vn + si) * c : wte + Int(tokens[bi * t + si - vn]) * c
            let pe = wpe + (positions.map { Int($0[bi * s + si]) } ?? si) * c
            for j in 0..<c { o[j] = src[j] + pe[j] }
        }
    }
}

/// Accumulates dvisual, and dwte/dwpe when given.
func decoderEmbedBackward(_ dvisual: UnsafeMutablePointer<Float>?, _ dwte: UnsafeMutablePointer<Float>?,
                          _ dwpe: UnsafeMutablePointer<Float>?,
                          _ dx: UnsafePointer<Float>, _ tokens: UnsafePointer<Int32>,
                          _ b: Int, _ vn: Int, _ t: Int, _ c: Int, positions: UnsafePointer<Int32>? = nil) {
    let s = vn + t
    for bi in 0..<b {
        for si in 0..<s {
            let d = dx + (bi * s + si) * c
            if let dpe = dwpe {
                let pe = dpe + (positions.map { Int($0[bi * s + si]) } ?? si) * c
                for j in 0..<c { pe[j] += d[j] }
            }
            if si < vn {
                if let dv = dvisual { let o = dv + (bi * vn + si) * c; for j in 0..<c { o[j] += d[j] } }
            } else if let dw = dwte {
                let o = dw + Int(tokens[bi * t + si - vn]) * c
                for j in 0..<c { o[j] += d[j] }
            }
        }
    }
}
