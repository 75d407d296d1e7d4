import Foundation

// The output head (tied to the token embedding) and per-token log-probabilities,
// forward and backward side by side.
// Legend: B batch, V_n visual tokens, T text tokens, S = V_n + T, C channels, V vocabulary.
// Text token t of row b is predicted from decoder position V_n - 1 + t, or from slot
// sources[b, t] (B, T) in a branched batch.

/// gathered (B*T, C) = lnf rows that predict each text token; probs (B*T, V) = softmax of
/// gathered @ wte^T; logp (B*T) = log p(tokens[b, t]).
func headForward(_ logp: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                 _ gathered: UnsafeMutablePointer<Float>,
                 _ lnf: UnsafePointer<Float>, _ tokens: UnsafePointer<Int32>,
                 _ wte: UnsafePointer<Float>,
                 _ b: Int, _ vn: Int, _ t: Int, _ c: Int, _ v: Int, sources: UnsafePointer<Int32>? = nil) {
    let s = vn + t
    for bi in 0..<b {
        if let sources {
            for ti in 0..<t {
                (gathered + (bi * t + ti) * c).update(from: lnf + (bi * s + Int(sources[bi * t + ti])) * c, count: c)
            }
        } else {
            (gathered + bi * t * c).update(from: lnf + (bi * s + vn - 1) * c, count: t * c)
        }
    }
    gemm(false, true, b * t, v, c, 1, gathered, c, wte, c, 0, probs, v)
    parallelRanges(b * t, minPerThread: 16) { rows in
    for r in rows {
        let row = probs + r * v
        let y = Int(tokens[r])
        let mx = maxOf(row, v)
        let ly = row[y] - mx
        let sum = expShiftedInPlace(row, v, mx)
        logp[r] = ly - logf(sum)
        scaleInPlace(row, 1 / sum, v)
    }
    }
}

/// Given dlogp (B*T) = dLoss/dlog p(token), accumulates dlnf (B*S, C) and dwte (when given).
/// d log p(y) / d logits = onehot(y) - probs. Scratch: dlogits (B*T, V), dgathered (B*T, C).
func headBackward(_ dlnf: UnsafeMutablePointer<Float>, _ dwte: UnsafeMutablePointer<Float>?,
                  _ dlogits: UnsafeMutablePointer<Float>, _ dgathered: UnsafeMutablePointer<Float>,
                  _ dlogp: UnsafePointer<Float>, _ probs: UnsafePointer<Float>,
                  _ gathered: UnsafePointer<Float>, _ tokens: UnsafePointer<Int32>,
                  _ wte: UnsafePointer<Float>,
                  _ b: Int, _ vn: Int, _ t: Int, _ c: Int, _ v: Int, sources: UnsafePointer<Int32>? = nil) {
    let s = vn + t
    parallelRanges(b * t, minPerThread: 16) { rows in
        for r in rows {
            let w = dlogp[r]
            let p = probs + r * v, d = dlogits + r * v
            d.update(from: p, count: v)
            scaleInPlace(d, -w, v)
            d[Int(tokens[r])] += w
        }
    }
    gemm(false, false, b * t, c, v, 1, dlogits, v, wte, c, 0, dgathered, c)
    if let dw = dwte { gemm(true, false, v, c, b * t, 1, dlogits, v, gathered, c, 1, dw, c) }
    for bi in 0..<b {
        if let sources {
            for ti in 0..<t {
                let dst = dlnf + (bi * s + Int(sources[bi * t + ti])) * c, src = dgathered + (bi * t + ti) * c
                for e in 0..<c { dst[e] += src[e] }
            }
        } else {
            let dst = dlnf + (bi * s + vn - 1) * c, src = dgathered + bi * t * c
            for e in 0..<(t * c) { dst[e] += src[e] }
        }
    }
}
