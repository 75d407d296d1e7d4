/// An 8-bit RGB image, pixels interleaved row by row (R, G, B, R, G, B, ...), top row first.
public struct RGBImage: Sendable, Hashable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    /// Wraps interleaved RGB bytes; fails when the byte count does not match the size.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        guard width > 0, height > 0 else {
            throw ImageError("image size \(width)x\(height) is not positive")
        }
        guard pixels.count == width * height * 3 else {
            throw ImageError("image \(width)x\(height) needs \(width * height * 3) RGB bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniformly filled image.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        precondition(width > 0 && height > 0, "image size must be positive")
        self.width = width
        self.height = height
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: bytes.count, by: 3) {
            bytes[i] = fill.0
            bytes[i + 1] = fill.1
            bytes[i + 2] = fill.2
        }
        self.pixels = bytes
    }

    /// The (r, g, b) bytes of the pixel at column `x`, row `y`.
    @inlinable
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The binary PPM (P6) encoding of the image: a lossless format any viewer converts.
    public func ppmData() -> [UInt8] {
        var out = Array("P6\n\(width) \(height)\n255\n".utf8)
        out.append(contentsOf: pixels)
        return out
    }
}

/// A malformed image or image operation, with what was wrong.
public struct ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A colour with channels in 0...1 (sRGB-like, as the renderer mixes them).
public struct RGBColour: Sendable, Hashable, Codable {
    public var r: Float
    public var g: Float
    public var b: Float

    public init(_ r: Float, _ g: Float, _ b: Float) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// A colour from 8-bit channel values.
    public init(bytes r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.init(Float(r) / 255, Float(g) / 255, Float(b) / 255)
    }

    @inlinable
    public func mixed(with other: RGBColour, _ t: Float) -> RGBColour {
        RGBColour(r + (other.r - r) * t, g + (other.g - g) * t, b + (other.b - b) * t)
    }

    @inlinable
    public func scaled(_ s: Float) -> RGBColour { RGBColour(r * s, g * s, b * s) }

    /// Rec. 601 luma.
    public var luma: Float { 0.299 * r + 0.587 * g + 0.114 * b }

    // Skin tones (Fitzpatrick-like range, light to dark).
    public static let skinVeryLight = RGBColour(0.95, 0.82, 0.75)
    public static let skinLight = RGBColour(0.92, 0.76, 0.66)
    public static let skinMedium = RGBColour(0.80, 0.62, 0.50)
    public static let skinOlive = RGBColour(0.70, 0.53, 0.40)
    public static let skinBrown = RGBColour(0.52, 0.37, 0.27)
    public static let skinDark = RGBColour(0.34, 0.23, 0.17)

    // Lesion colours named as dermoscopy describes them.
    public static let tan = RGBColour(0.78, 0.60, 0.45)
    public static let lightBrown = RGBColour(0.62, 0.43, 0.29)
    public static let darkBrown = RGBColour(0.36, 0.21, 0.13)
    public static let black = RGBColour(0.12, 0.08, 0.08)
    public static let blueGrey = RGBColour(0.44, 0.50, 0.60)
    public static let steelBlue = RGBColour(0.30, 0.38, 0.55)
    public static let red = RGBColour(0.82, 0.34, 0.32)
    public static let vesselRed = RGBColour(0.76, 0.10, 0.14)
    public static let pink = RGBColour(0.92, 0.62, 0.62)
    public static let violet = RGBColour(0.50, 0.28, 0.45)
    public static let white = RGBColour(0.95, 0.93, 0.90)
    public static let yellowWhite = RGBColour(0.94, 0.90, 0.76)
    public static let crust = RGBColour(0.70, 0.52, 0.28)
}
