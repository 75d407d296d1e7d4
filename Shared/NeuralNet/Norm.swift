// Normalisation layers, forward and backward side by side.
// Legend: N rows (B*T), C channels. Pointers: outputs, caches, inputs, weights, sizes.

let normEpsilon: Float = 1e-5

/// LayerNorm (bias != nil): y = (x - mean) * rstd * w + b.
/// RMSNorm   (bias == nil): y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps); mean cache holds 0.
func normForward(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
                 _ rstd: UnsafeMutablePointer<Float>,
                 _ inp: UnsafePointer<Float>,
                 _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                 _ n: Int, _ c: Int) {
    for i in 0..<n {
        let x = inp + i * c, y = out + i * c
        var m: Float = 0
        if bias != nil {
            for j in 0..<c { m += x[j] }
            m /= Float(c)
        }
        var v: Float = 0
        for j in 0..<c { let d = x[j] - m; v += d * d }
        let s = 1 / (v / Float(c) + normEpsilon).squareRoot()
        if let b = bias {
            for j in 0..<c { y[j] = (x[j] - m) * s * weight[j] + b[j] }
        } else {
            for j in 0..<c { y[j] = x[j] * s * weight[j] }
        }
        mean[i] = m
        rstd[i] = s
    }
}

/// Accumulates into dinp, and into dweight/dbias when they are given (nil = frozen).
func normBackward(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                  _ dbias: UnsafeMutablePointer<Float>?,
                  _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                  _ weight: UnsafePointer<Float>, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                  _ isLayerNorm: Bool, _ n: Int, _ c: Int) {
    let fc = Float(c)
    for i in 0..<n {
        let x = inp + i * c, dy = dout + i * c, dx = dinp + i * c
        let m = mean[i], s = rstd[i]
        // g = dy * w; xhat = (x - m) * s
        var sumG: Float = 0, sumGX: Float = 0
        for j in 0..<c {
            let g = dy[j] * weight[j]
            sumG += g
            sumGX += g * (x[j] - m) * s
        }
        let meanG = isLayerNorm ? sumG / fc : 0
        let meanGX = sumGX / fc
        for j in 0..<c {
            let xhat = (x[j] - m) * s
            dx[j] += s * (dy[j] * weight[j] - meanG - xhat * meanGX)
        }
        if let dw = dweight { for j in 0..<c { dw[j] += dy[j] * (x[j] - m) * s } }
        if let db = dbias { for j in 0..<c { db[j] += dy[j] } }
    }
}
