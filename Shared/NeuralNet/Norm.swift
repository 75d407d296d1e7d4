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
    parallelRanges(n, minPerThread: 64) { rows in
    for i in rows {
        let x = inp + i * c, y = out + i * c
        var m: Float = 0
        if bias != nil {
            var acc = F16(repeating: 0)
            var j = 0
            while j < c { acc += load16(x + j, min(16, c - j)); j += 16 }
            m = acc.sum() / Float(c)
        }
        var vacc = F16(repeating: 0)
        var j = 0
        while j < c {
            let k = min(16, c - j)
            var d = load16(x + j, k) - m
            if k < 16 { for z in k..<16 { d[z] = 0 } }
            vacc += d * d
            j += 16
        }
        let s = 1 / (vacc.sum() / Float(c) + normEpsilon).squareRoot()
        j = 0
        while j < c {
            let k = min(16, c - j)
            var yv: F16 = (load16(x + j, k) - m) * s * load16(weight + j, k)
            if let b = bias { yv += load16(b + j, k) }
            store16(yv, y + j, k)
            j += 16
        }
        mean[i] = m
        rstd[i] = s
    }
    }
}

/// Accumulates into dinp, and into dweight/dbias when they are given (nil = frozen).
func normBackward(_ dinp: UnsafeMutablePointer<Float>, _ dweight: UnsafeMutablePointer<Float>?,
                  _ dbias: UnsafeMutablePointer<Float>?,
                  _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>,
                  _ weight: UnsafePointer<Float>, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                  _ isLayerNorm: Bool, _ n: Int, _ c: Int) {
    let fc = Float(c)
    // dweight and dbias sum over rows: each worker accumulates its own copy, added at the end.
    let workers = max(1, min(NeuralNetThreads.loopThreads, n / 64))
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: workers * 2 * c)
    partial.initialize(repeating: 0, count: workers * 2 * c)
    defer { partial.deallocate() }
    parallelRanges(n, minPerThread: 64) { rows in
    let wi = rows.lowerBound * workers / n
    let pw: UnsafeMutablePointer<Float>? = dweight == nil ? nil : partial + wi * 2 * c
    let pb: UnsafeMutablePointer<Float>? = dbias == nil ? nil : partial + wi * 2 * c + c
    for i in rows {
        let x = inp + i * c, dy = dout + i * c, dx = dinp + i * c
        let m = mean[i], s = rstd[i]
        // g = dy * w; xhat = (x - m) * s
        var sumG = F16(repeating: 0), sumGX = F16(repeating: 0)
        var j = 0
        while j < c {
            let k = min(16, c - j)
            let g: F16 = load16(dy + j, k) * load16(weight + j, k)   // zero beyond k
            let xhat: F16 = (load16(x + j, k) - m) * s
            sumG += g
            sumGX += g * xhat
            j += 16
        }
        let meanG = isLayerNorm ? sumG.sum() / fc : 0
        let meanGX = sumGX.sum() / fc
        j = 0
        while j < c {
            let k = min(16, c - j)
            let dyv = load16(dy + j, k)
            let xhat: F16 = (load16(x + j, k) - m) * s
            let g: F16 = dyv * load16(weight + j, k)
            let d: F16 = load16(dx + j, k) + s * (g - meanG - xhat * meanGX)
            store16(d, dx + j, k)
            if let dw = pw { store16(load16(dw + j, k) + dyv * xhat, dw + j, k) }
            if let db = pb { store16(load16(db + j, k) + dyv, db + j, k) }
            j += 16
        }
    }
    }
    for wi in 0..<workers {
        if let dw = dweight { addInPlace(dw, partial + wi * 2 * c, c) }
        if let db = dbias { addInPlace(db, partial + wi * 2 * c + c, c) }
    }
}
