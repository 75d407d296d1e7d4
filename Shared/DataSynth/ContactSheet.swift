/// Grids of rendered examples for people to look at.
public enum ContactSheet {
    /// Tiles `images` left to right, top to bottom, `columns` per row, separated by
    /// `gap` pixels of `background`. Every image must be `tile` x `tile`.
    public static func compose(_ images: [RGBImage], columns: Int, gap: Int = 4,
                               background: (UInt8, UInt8, UInt8) = (255, 255, 255)) throws(ImageError) -> RGBImage {
        guard let first = images.first else { throw ImageError("contact sheet needs at least one image") }
        guard columns > 0, gap >= 0 else { throw ImageError("contact sheet columns \(columns) or gap \(gap) is invalid") }
        let tileW = first.width, tileH = first.height
        for (i, image) in images.enumerated() where image.width != tileW || image.height != tileH {
            throw ImageError("contact sheet image \(i) is \(image.width)x\(image.height), expected \(tileW)x\(tileH)")
        }
        let cols = min(columns, images.count)
        let rows = (images.count + cols - 1) / cols
        let width = cols * tileW + (cols + 1) * gap
        let height = rows * tileH + (rows + 1) * gap
        var sheet = RGBImage(width: width, height: height, fill: background)
        for (i, image) in images.enumerated() {
            let ox = gap + (i % cols) * (tileW + gap), oy = gap + (i / cols) * (tileH + gap)
            for y in 0..<tileH {
                let src = y * tileW * 3
                let dst = ((oy + y) * width + ox) * 3
                sheet.pixels.replaceSubrange(dst..<(dst + tileW * 3), with: image.pixels[src..<(src + tileW * 3)])
            }
        }
        return sheet
    }

    /// One row per parameter set, one column per seed, as a JPEG.
    public static func jpeg(_ parameterSets: [LesionRenderParameters], seeds: [UInt64], tile: Int = 128,
                            quality: Int = 92) throws -> [UInt8] {
        guard !seeds.isEmpty else { throw ImageError("contact sheet needs at least one seed") }
        var images: [RGBImage] = []
        for params in parameterSets {
            for seed in seeds { images.append(try LesionRenderer.render(params, size: tile, seed: seed)) }
        }
        return try JPEG.encode(compose(images, columns: seeds.count), quality: quality, subsampling: .none444)
    }
}
