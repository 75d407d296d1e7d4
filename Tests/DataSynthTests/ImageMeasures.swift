@testable import DataSynth

/// Simple measurements of rendered images, in normalised image coordinates (-1...1).
enum Measure {
    static func forEachPixel(_ image: RGBImage, within radius: Float, of centre: (Float, Float) = (0, 0),
                             _ body: (Int, Int, Float, Float, Float) -> Void) {
        for y in 0..<image.height {
            for x in 0..<image.width {
                let nx = (Float(x) + 0.5) / Float(image.width) * 2 - 1 - centre.0
                let ny = (Float(y) + 0.5) / Float(image.height) * 2 - 1 - centre.1
                guard nx * nx + ny * ny <= radius * radius else { continue }
                let p = image.pixel(x: x, y: y)
                body(x, y, Float(p.r) / 255, Float(p.g) / 255, Float(p.b) / 255)
            }
        }
    }

    /// Mean blue share b / (r + g + b) inside a centred disc.
    static func blueShare(_ image: RGBImage, within radius: Float) -> Float {
        var sum: Float = 0, count: Float = 0
        forEachPixel(image, within: radius) { _, _, r, g, b in
            sum += b / max(r + g + b, 1e-3)
            count += 1
        }
        return sum / count
    }

    static func meanLuma(_ image: RGBImage, within radius: Float) -> Float {
        var sum: Float = 0, count: Float = 0
        forEachPixel(image, within: radius) { _, _, r, g, b in
            sum += 0.299 * r + 0.587 * g + 0.114 * b
            count += 1
        }
        return sum / count
    }

    static func maxLuma(_ image: RGBImage, within radius: Float) -> Float {
        var best: Float = 0
        forEachPixel(image, within: radius) { _, _, r, g, b in best = max(best, 0.299 * r + 0.587 * g + 0.114 * b) }
        return best
    }

    /// Mean absolute 4-neighbour Laplacian of luma inside a centred disc: fine detail.
    static func highFrequencyEnergy(_ image: RGBImage, within radius: Float) -> Float {
        func luma(_ x: Int, _ y: Int) -> Float {
            let p = image.pixel(x: x, y: y)
            return 0.299 * Float(p.r) + 0.587 * Float(p.g) + 0.114 * Float(p.b)
        }
        var sum: Float = 0, count: Float = 0
        forEachPixel(image, within: radius) { x, y, _, _, _ in
            guard x > 0, y > 0, x < image.width - 1, y < image.height - 1 else { return }
            sum += abs(4 * luma(x, y) - luma(x - 1, y) - luma(x + 1, y) - luma(x, y - 1) - luma(x, y + 1))
            count += 1
        }
        return sum / count
    }

    /// Pixels where red clearly dominates green: the colour of vessels.
    static func redPixels(_ image: RGBImage, within radius: Float = 1) -> Int {
        var count = 0
        forEachPixel(image, within: radius) { _, _, r, g, b in
            if r - g > 0.4 && r - b > 0.35 { count += 1 }
        }
        return count
    }

    static func darkPixels(_ image: RGBImage, below threshold: Float, from inner: Float, to outer: Float) -> Int {
        var count = 0
        forEachPixel(image, within: outer) { x, y, r, g, b in
            let nx = (Float(x) + 0.5) / Float(image.width) * 2 - 1, ny = (Float(y) + 0.5) / Float(image.height) * 2 - 1
            guard nx * nx + ny * ny >= inner * inner else { return }
            if 0.299 * r + 0.587 * g + 0.114 * b < threshold { count += 1 }
        }
        return count
    }

    /// Pixels darker than `threshold` inside the dermoscope circle: the lesion.
    static func lesionMask(_ image: RGBImage, threshold: Float) -> [Bool] {
        var mask = [Bool](repeating: false, count: image.width * image.height)
        forEachPixel(image, within: 0.9) { x, y, r, g, b in
            mask[y * image.width + x] = 0.299 * r + 0.587 * g + 0.114 * b < threshold
        }
        return mask
    }

    /// Share of lesion pixels whose point reflection through the lesion centroid is not
    /// lesion: 0 for a centrally symmetric shape.
    static func reflectionAsymmetry(_ mask: [Bool], side: Int) -> Float {
        var sx = 0, sy = 0, n = 0
        for i in mask.indices where mask[i] { sx += i % side; sy += i / side; n += 1 }
        guard n > 0 else { return 0 }
        let cx = Float(sx) / Float(n), cy = Float(sy) / Float(n)
        var miss = 0
        for i in mask.indices where mask[i] {
            let rx = Int((2 * cx - Float(i % side)).rounded()), ry = Int((2 * cy - Float(i / side)).rounded())
            if rx < 0 || ry < 0 || rx >= side || ry >= side || !mask[ry * side + rx] { miss += 1 }
        }
        return Float(miss) / Float(n)
    }

    /// Boundary pixels per square root of area (4 * sqrt(pi) ~ 3.5 for a disc; more when ragged).
    static func boundaryRoughness(_ mask: [Bool], side: Int) -> Float {
        var area = 0, boundary = 0
        for y in 0..<side {
            for x in 0..<side where mask[y * side + x] {
                area += 1
                let neighbours = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                if neighbours.contains(where: { $0.0 < 0 || $0.1 < 0 || $0.0 >= side || $0.1 >= side || !mask[$0.1 * side + $0.0] }) {
                    boundary += 1
                }
            }
        }
        return Float(boundary) / Float(area).squareRoot()
    }

    static func meanAbsoluteDifference(_ a: RGBImage, _ b: RGBImage) -> Float {
        precondition(a.pixels.count == b.pixels.count)
        var sum = 0
        for i in a.pixels.indices { sum += abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
        return Float(sum) / Float(a.pixels.count)
    }

    static func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        var sum = 0.0
        for i in a.pixels.indices {
            let d = Double(a.pixels[i]) - Double(b.pixels[i])
            sum += d * d
        }
        let mse = sum / Double(a.pixels.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }
}

import Foundation
