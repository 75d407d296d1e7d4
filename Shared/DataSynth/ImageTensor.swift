/// Turning decoded images into what the policy's vision encoder reads: a square image of
/// the model's input side, then a float tensor in channel-planar (C, H, W) order.
extension RGBImage {
    /// The largest centred square.
    public func centreCropped() -> RGBImage {
        let side = min(width, height)
        guard side != width || side != height else { return self }
        let x0 = (width - side) / 2, y0 = (height - side) / 2
        var out = [UInt8]()
        out.reserveCapacity(side * side * 3)
        for y in y0..<(y0 + side) {
            let start = (y * width + x0) * 3
            out.append(contentsOf: pixels[start..<(start + side * 3)])
        }
        return try! RGBImage(width: side, height: side, pixels: out)  // side*side*3 bytes by construction
    }

    /// Resampled to `width` x `height`. Shrinking averages every source pixel under an
    /// output pixel (a triangle filter widened by the scale factor, so no aliasing when a
    /// 224-pixel image becomes 32 pixels); enlarging interpolates bilinearly.
    public func resized(width newWidth: Int, height newHeight: Int) throws(ImageError) -> RGBImage {
        guard newWidth > 0, newHeight > 0 else {
            throw ImageError("resize target \(newWidth)x\(newHeight) is not positive")
        }
        if newWidth == width && newHeight == height { return self }
        let horizontal = ResampleWeights(source: width, target: newWidth)
        let vertical = ResampleWeights(source: height, target: newHeight)
        // Rows first: height x newWidth x 3 floats.
        var temp = [Float](repeating: 0, count: height * newWidth * 3)
        for y in 0..<height {
            for x in 0..<newWidth {
                var r: Float = 0, g: Float = 0, b: Float = 0
                for (sx, w) in horizontal.taps[x] {
                    let k = (y * width + sx) * 3
                    r += w * Float(pixels[k]); g += w * Float(pixels[k + 1]); b += w * Float(pixels[k + 2])
                }
                let o = (y * newWidth + x) * 3
                temp[o] = r; temp[o + 1] = g; temp[o + 2] = b
            }
        }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            for x in 0..<newWidth {
                var r: Float = 0, g: Float = 0, b: Float = 0
                for (sy, w) in vertical.taps[y] {
                    let k = (sy * newWidth + x) * 3
                    r += w * temp[k]; g += w * temp[k + 1]; b += w * temp[k + 2]
                }
                let o = (y * newWidth + x) * 3
                out[o] = UInt8(min(max(r + 0.5, 0), 255))
                out[o + 1] = UInt8(min(max(g + 0.5, 0), 255))
                out[o + 2] = UInt8(min(max(b + 0.5, 0), 255))
            }
        }
        return try RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// Centre-crops to a square and resizes to `side` x `side`: the model's input.
    public func preparedForModel(side: Int) throws(ImageError) -> RGBImage {
        try centreCropped().resized(width: side, height: side)
    }

    /// Channel-planar floats (all R, then all G, then all B), row-major within a plane.
    public func planarTensor(_ normalisation: PixelNormalisation = .unitRange) -> [Float] {
        let plane = width * height
        var out = [Float](repeating: 0, count: plane * 3)
        let (mean, std) = normalisation.meanAndStd
        for c in 0..<3 {
            let scale = 1 / (255 * std[c]), shift = mean[c] / std[c]
            for i in 0..<plane { out[c * plane + i] = Float(pixels[i * 3 + c]) * scale - shift }
        }
        return out
    }
}

/// How pixel bytes become model inputs: (byte / 255 - mean) / std per channel (R, G, B).
public struct PixelNormalisation: Sendable, Hashable {
    public let mean: (r: Float, g: Float, b: Float)
    public let std: (r: Float, g: Float, b: Float)

    public init(mean: (r: Float, g: Float, b: Float), std: (r: Float, g: Float, b: Float)) throws(ImageError) {
        for (name, v) in [("r", std.r), ("g", std.g), ("b", std.b)] where !(v.isFinite && v > 0) {
            throw ImageError("normalisation std.\(name) = \(v) must be positive")
        }
        for (name, v) in [("r", mean.r), ("g", mean.g), ("b", mean.b)] where !v.isFinite {
            throw ImageError("normalisation mean.\(name) = \(v) must be finite")
        }
        self.mean = mean
        self.std = std
    }

    private init(unchecked mean: (r: Float, g: Float, b: Float), _ std: (r: Float, g: Float, b: Float)) {
        self.mean = mean
        self.std = std
    }

    /// byte / 255, in [0, 1].
    public static let unitRange = PixelNormalisation(unchecked: (0, 0, 0), (1, 1, 1))
    /// The per-channel statistics of ImageNet, the usual choice for vision encoders.
    public static let imageNet = PixelNormalisation(unchecked: (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    var meanAndStd: ([Float], [Float]) { ([mean.r, mean.g, mean.b], [std.r, std.g, std.b]) }

    public static func == (a: Self, b: Self) -> Bool { a.meanAndStd == b.meanAndStd }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(meanAndStd.0)
        hasher.combine(meanAndStd.1)
    }
}

/// For each output sample, the source samples it reads and their weights (summing to 1).
private struct ResampleWeights {
    var taps: [[(Int, Float)]]

    init(source: Int, target: Int) {
        let scale = Float(source) / Float(target)
        let support = max(scale, 1)  // triangle half-width in source pixels
        taps = []
        taps.reserveCapacity(target)
        for i in 0..<target {
            let centre = (Float(i) + 0.5) * scale - 0.5
            let lo = Int((centre - support).rounded(.down)), hi = Int((centre + support).rounded(.up))
            var row: [(Int, Float)] = []
            var total: Float = 0
            for s in lo...hi {
                let w = max(0, 1 - abs(Float(s) - centre) / support)
                guard w > 0 else { continue }
                row.append((min(max(s, 0), source - 1), w))
                total += w
            }
            taps.append(row.map { ($0.0, $0.1 / total) })
        }
    }
}
