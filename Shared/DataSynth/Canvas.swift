/// A float RGB working image with the drawing primitives the renderer stamps with.
/// Coordinates are in pixels; pixel (i, j) has its centre at (i, j).
struct Canvas {
    let size: Int
    /// Interleaved RGB, channels in 0...1 (may leave that range while drawing).
    var rgb: [Float]

    init(size: Int) {
        self.size = size
        rgb = [Float](repeating: 0, count: size * size * 3)
    }

    @inline(__always)
    mutating func blend(_ index: Int, _ c: RGBColour, _ alpha: Float) {
        let k = index * 3
        rgb[k] += (c.r - rgb[k]) * alpha
        rgb[k + 1] += (c.g - rgb[k + 1]) * alpha
        rgb[k + 2] += (c.b - rgb[k + 2]) * alpha
    }

    /// A tapered, anti-aliased segment from a (radius ra) to b (radius rb). Segments thinner
    /// than a pixel are drawn one pixel wide with proportionally lower opacity, so fine
    /// lines stay visible without aliasing. `weights`, when given, scales the opacity per
    /// pixel (the lesion mask, to keep structures inside the lesion).
    mutating func capsule(
        _ ax: Float, _ ay: Float, _ bx: Float, _ by: Float,
        radius ra: Float, _ rb: Float, colour: RGBColour, opacity: Float, weights: [Float]? = nil
    ) {
        let rMax = max(ra, rb, 0.5) + 1
        let x0 = max(0, Int((min(ax, bx) - rMax).rounded(.down)))
        let x1 = min(size - 1, Int((max(ax, bx) + rMax).rounded(.up)))
        let y0 = max(0, Int((min(ay, by) - rMax).rounded(.down)))
        let y1 = min(size - 1, Int((max(ay, by) + rMax).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let ex = bx - ax, ey = by - ay
        let len2 = ex * ex + ey * ey
        for py in y0...y1 {
            let fy = Float(py)
            for px in x0...x1 {
                let fx = Float(px)
                var t: Float = 0
                if len2 > 1e-6 {
                    t = min(max(((fx - ax) * ex + (fy - ay) * ey) / len2, 0), 1)
                }
                let qx = ax + ex * t - fx, qy = ay + ey * t - fy
                let d = (qx * qx + qy * qy).squareRoot()
                let r = ra + (rb - ra) * t
                let coverage = min(1, 2 * r)
                let effective = max(r, 0.5)
                var a = opacity * coverage * min(max(effective - d + 0.5, 0), 1)
                guard a > 0 else { continue }
                let index = py * size + px
                if let weights { a *= weights[index] }
                blend(index, colour, a)
            }
        }
    }

    /// An anti-aliased disc whose opacity falls off from `core` (fraction of the radius)
    /// to the rim, so dots read as rounded globules rather than flat coins.
    mutating func disc(
        _ cx: Float, _ cy: Float, radius r: Float, core: Float,
        colour: RGBColour, opacity: Float, weights: [Float]? = nil
    ) {
        let effective = max(r, 0.5)
        let coverage = min(1, 2 * r)
        let reach = effective + 1
        let x0 = max(0, Int((cx - reach).rounded(.down))), x1 = min(size - 1, Int((cx + reach).rounded(.up)))
        let y0 = max(0, Int((cy - reach).rounded(.down))), y1 = min(size - 1, Int((cy + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let inner = effective * core
        for py in y0...y1 {
            for px in x0...x1 {
                let dx = Float(px) - cx, dy = Float(py) - cy
                let d = (dx * dx + dy * dy).squareRoot()
                let edge = min(max(effective - d + 0.5, 0), 1)
                let falloff = d <= inner ? 1 : max(0, 1 - (d - inner) / max(effective - inner, 0.5) * 0.5)
                var a = opacity * coverage * edge * falloff
                guard a > 0 else { continue }
                let index = py * size + px
                if let weights { a *= weights[index] }
                blend(index, colour, a)
            }
        }
    }

    /// 3x3 binomial blur mixed with the original by `amount` (0 none, 1 full blur).
    mutating func soften(_ amount: Float) {
        guard amount > 0, size >= 3 else { return }
        let src = rgb
        let n = size
        for y in 0..<n {
            let ym = max(y - 1, 0), yp = min(y + 1, n - 1)
            for x in 0..<n {
                let xm = max(x - 1, 0), xp = min(x + 1, n - 1)
                for c in 0..<3 {
                    @inline(__always) func at(_ xx: Int, _ yy: Int) -> Float { src[(yy * n + xx) * 3 + c] }
                    let sum = at(xm, ym) + 2 * at(x, ym) + at(xp, ym)
                        + 2 * at(xm, y) + 4 * at(x, y) + 2 * at(xp, y)
                        + at(xm, yp) + 2 * at(x, yp) + at(xp, yp)
                    let k = (y * n + x) * 3 + c
                    rgb[k] = src[k] + (sum / 16 - src[k]) * amount
                }
            }
        }
    }
}

@inline(__always)
func smoothstep(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
    let t = min(max((x - e0) / (e1 - e0), 0), 1)
    return t * t * (3 - 2 * t)
}

@inline(__always)
func clamp01(_ x: Float) -> Float { min(max(x, 0), 1) }
