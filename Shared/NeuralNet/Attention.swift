import Foundation

// Multi-head self-attention and the GELU of the MLP, forward and backward side by side.
// Legend: B batch, L sequence length, C channels, H heads, hs = C/H.
// qkv rows hold q | k | v, each (C) split into H heads of hs.

/// out (B, L, C) = softmax(q k^T / sqrt(hs) [+ causal mask]) v, per batch row and head.
/// att (B, H, L, L) keeps the probabilities for the backward (masked entries are 0).
func attentionForward(_ out: UnsafeMutablePointer<Float>, _ att: UnsafeMutablePointer<Float>,
                      _ qkv: UnsafePointer<Float>,
                      _ b: Int, _ l: Int, _ c: Int, _ h: Int, _ causal: Bool) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    for bi in 0..<b {
        for hi in 0..<h {
            let q = qkv + bi * l * c3 + hi * hs
            let k = q + c, v = q + 2 * c
            let p = att + (bi * h + hi) * l * l
            gemm(false, true, l, l, hs, scale, q, c3, k, c3, 0, p, l)
            for t in 0..<l { softmaxRow(p + t * l, causal ? t + 1 : l, l) }
            gemm(false, false, l, hs, l, 1, p, l, v, c3, 0, out + bi * l * c + hi * hs, c)
        }
    }
}

/// In-place softmax of row[0..<valid]; row[valid..<width] becomes 0.
@inline(__always)
func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ valid: Int, _ width: Int) {
    var mx = -Float.infinity
    for j in 0..<valid where row[j] > mx { mx = row[j] }
    var sum: Float = 0
    for j in 0..<valid { let e = expf(row[j] - mx); row[j] = e; sum += e }
    let inv = 1 / sum
    for j in 0..<valid { row[j] *= inv }
    for j in valid..<width { row[j] = 0 }
}

/// Accumulates dqkv (B, L, 3C). `dp` is scratch of L*L floats.
func attentionBackward(_ dqkv: UnsafeMutablePointer<Float>, _ dp: UnsafeMutablePointer<Float>,
                       _ dout: UnsafePointer<Float>, _ qkv: UnsafePointer<Float>, _ att: UnsafePointer<Float>,
                       _ b: Int, _ l: Int, _ c: Int, _ h: Int) {
    let hs = c / h, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    for bi in 0..<b {
        for hi in 0..<h {
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
                var dot: Float = 0
                for j in 0..<l { dot += pr[j] * dr[j] }
                for j in 0..<l { dr[j] = pr[j] * (dr[j] - dot) * scale }
            }
            gemm(false, false, l, hs, l, 1, dp, l, k, c3, 1, dq, c3)    // dq += dS k
            gemm(true, false, l, hs, l, 1, dp, l, q, c3, 1, dk, c3)     // dk += dS^T q
        }
    }
}

// GELU, tanh approximation: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
private let geluK: Float = 0.7978845608028654

func geluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let x = inp[i]
        out[i] = 0.5 * x * (1 + tanhf(geluK * (x + 0.044715 * x * x * x)))
    }
}

/// Accumulates dinp.
func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                  _ dout: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let x = inp[i]
        let u = geluK * (x + 0.044715 * x * x * x)
        let t = tanhf(u)
        let sech2 = 1 - t * t
        let grad = 0.5 * (1 + t) + 0.5 * x * sech2 * geluK * (1 + 3 * 0.044715 * x * x)
        dinp[i] += grad * dout[i]
    }
}
