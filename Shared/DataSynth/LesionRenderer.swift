import Domain
import Foundation

/// Draws synthetic lesion images from `LesionRenderParameters`.
///
/// Pure Swift and deterministic: the image is a function of (parameters, size, seed) only.
/// The seed varies what a real second photograph of a similar lesion would vary: rotation,
/// position, the exact outline, colour balance, where each dot and vessel falls, hair and
/// lighting. Structures are placed in lesion-relative coordinates, so one seed gives the
/// same lesion at any resolution.
public enum LesionRenderer {
    /// Smallest and largest supported image side, in pixels.
    public static let sizeRange = 16...1024

    public static func render(_ params: LesionRenderParameters, size: Int, seed: UInt64) throws(ImageError) -> RGBImage {
        try params.validate()
        guard sizeRange.contains(size) else {
            throw ImageError("render size \(size) is outside \(sizeRange.lowerBound)...\(sizeRange.upperBound) pixels")
        }
        var scene = Scene(params: params, size: size, seed: seed)
        return scene.draw()
    }
}

/// One rendering: the per-seed geometry and the working buffers.
private struct Scene {
    let p: LesionRenderParameters
    let n: Int
    /// Draws for the lesion's structures (dots, streaks, vessels).
    var rng: SplitMix64
    /// Draws for the photograph (hair, light, cast, grain): a separate stream, so switching
    /// a hallmark on or off changes that hallmark only.
    var cameraRng: SplitMix64
    var canvas: Canvas

    // Geometry, in normalised image coordinates (-1...1 across the image).
    let centreX: Float, centreY: Float
    let radius: Float
    let cosT: Float, sinT: Float
    /// Outline radius (in lesion radii) at 256 evenly spaced angles.
    let outline: [Float]
    /// Colour centre in lesion coordinates (eccentric for asymmetric lesions).
    let colourCentreX: Float, colourCentreY: Float
    let palette: [RGBColour]
    let cumulativeWeights: [Float]
    let skin: RGBColour

    // Noise fields, each with its own salt.
    let colourNoise: ValueNoise, mottleNoise: ValueNoise, warpNoise: ValueNoise
    let widthNoise: ValueNoise, patchNoise: ValueNoise, areaNoise: ValueNoise
    let scaleNoise: ValueNoise, skinNoise: ValueNoise, lineNoise: ValueNoise
    let network: CellularNoise

    /// Per pixel: lesion opacity (0 outside, 1 inside) and lesion coordinates.
    var mask: [Float]
    var lesionX: [Float]
    var lesionY: [Float]
    /// Satellite lesions drawn: pixel centre and radius.
    var satelliteDiscs: [(x: Float, y: Float, r: Float)] = []

    init(params: LesionRenderParameters, size: Int, seed: UInt64) {
        p = params
        n = size
        var r = SplitMix64(seed: seed ^ 0x6C65_7369_6F6E_2121)
        cameraRng = SplitMix64(seed: seed ^ 0x6361_6D65_7261_2121)
        canvas = Canvas(size: size)

        let theta = r.uniform(0, 2 * Float.pi)
        cosT = cos(theta)
        sinT = sin(theta)
        centreX = r.uniform(-0.07, 0.07)
        centreY = r.uniform(-0.07, 0.07)
        radius = params.radius * r.uniform(0.92, 1.08)

        // Outline: a slight oval for every lesion, low harmonics for asymmetry, high
        // harmonics for notches. Phases are random per seed.
        var harmonics: [(k: Float, amp: Float, phase: Float)] = [(2, 0.06 * r.uniform(0.3, 1), r.uniform(0, 6.2832))]
        let lowAmps: [Float] = [0.12, 0.18, 0.15, 0.08]
        for (i, a) in lowAmps.enumerated() {
            harmonics.append((Float(i + 1), params.asymmetry * a * r.uniform(0.6, 1), r.uniform(0, 6.2832)))
        }
        for k in 5...24 {
            let a = params.borderIrregularity * 0.075 * r.uniform(0.2, 1) / pow(Float(k) / 5, 0.8)
            harmonics.append((Float(k), a, r.uniform(0, 6.2832)))
        }
        var table = [Float](repeating: 1, count: 257)
        for i in 0...256 {
            let phi = Float(i) / 256 * 2 * Float.pi - Float.pi
            var b: Float = 1
            for h in harmonics where h.amp > 0 { b += h.amp * cos(h.k * phi + h.phase) }
            table[i] = max(b, 0.4)
        }
        outline = table

        let psi = r.uniform(0, 6.2832)
        colourCentreX = params.asymmetry * 0.45 * cos(psi)
        colourCentreY = params.asymmetry * 0.45 * sin(psi)

        // Colour jitter: overall exposure and a slight per-channel balance.
        let exposure = 1 + 0.05 * r.gaussian()
        func jitter(_ c: RGBColour, _ r: inout SplitMix64) -> RGBColour {
            RGBColour(c.r * exposure * (1 + 0.025 * r.gaussian()),
                      c.g * exposure * (1 + 0.025 * r.gaussian()),
                      c.b * exposure * (1 + 0.025 * r.gaussian()))
        }
        skin = jitter(params.skinTone, &r)
        var colours: [RGBColour] = []
        for entry in params.palette { colours.append(jitter(entry.colour, &r)) }
        palette = colours
        let total = params.palette.reduce(Float(0)) { $0 + $1.weight }
        var running: Float = 0
        var cumulative: [Float] = []
        for entry in params.palette {
            running += entry.weight / total
            cumulative.append(running)
        }
        cumulativeWeights = cumulative

        func salt(_ r: inout SplitMix64) -> UInt64 { r.next() }
        colourNoise = ValueNoise(salt: salt(&r))
        mottleNoise = ValueNoise(salt: salt(&r))
        warpNoise = ValueNoise(salt: salt(&r))
        widthNoise = ValueNoise(salt: salt(&r))
        patchNoise = ValueNoise(salt: salt(&r))
        areaNoise = ValueNoise(salt: salt(&r))
        scaleNoise = ValueNoise(salt: salt(&r))
        skinNoise = ValueNoise(salt: salt(&r))
        lineNoise = ValueNoise(salt: salt(&r))
        network = CellularNoise(salt: salt(&r), jitter: 0.35 + 0.6 * (1 - params.network.regularity))
        rng = r

        mask = [Float](repeating: 0, count: size * size)
        lesionX = [Float](repeating: 0, count: size * size)
        lesionY = [Float](repeating: 0, count: size * size)
    }

    // MARK: coordinates

    @inline(__always) func normalised(_ pixel: Int) -> Float { (Float(pixel) + 0.5) / Float(n) * 2 - 1 }

    /// Lesion coordinates (lesion radius 1, unrotated) to pixel coordinates.
    @inline(__always) func toPixel(_ lx: Float, _ ly: Float) -> (Float, Float) {
        let x = centreX + radius * (lx * cosT - ly * sinT)
        let y = centreY + radius * (lx * sinT + ly * cosT)
        return ((x + 1) * Float(n) / 2 - 0.5, (y + 1) * Float(n) / 2 - 0.5)
    }

    /// Outline radius at the angle of lesion point (lx, ly).
    @inline(__always) func outlineRadius(_ lx: Float, _ ly: Float) -> Float {
        let phi = atan2(ly, lx)
        let u = (phi + Float.pi) / (2 * Float.pi) * 256
        let i = min(max(Int(u), 0), 255)
        let t = u - Float(i)
        return outline[i] + (outline[i + 1] - outline[i]) * t
    }

    /// Lesion radius in pixels.
    var radiusPixels: Float { radius * Float(n) / 2 }

    // MARK: drawing

    mutating func draw() -> RGBImage {
        drawSkinAndLesion()
        drawSatellites()
        drawGlobules()
        drawStreaks()
        drawOverlays()
        drawVessels()
        drawVesicles()
        drawSurface()
        drawHair()
        return finish()
    }

    /// Pass 1: skin, lesion body with its colour regions, pigment network, white area.
    mutating func drawSkinAndLesion() {
        let pixelSize = 2 / Float(n)
        // Edge width in normalised units: at least about a pixel, up to a third of the radius.
        let edge = max(1.2 * pixelSize, (1 - p.borderSharpness) * 0.33 * radius)
        let net = p.network
        let cellsPerRadius = 2.5 + net.density * 7.5
        let irregular = 1 - net.regularity
        let cellPerPixel = pixelSize / radius * cellsPerRadius
        let lineAA = max(0.04, cellPerPixel * 0.5)
        let colourCentreSpan = 1 + (colourCentreX * colourCentreX + colourCentreY * colourCentreY).squareRoot()
        let colourMix: Float = 0.15 + 0.6 * p.asymmetry
        let clinical = p.style == .clinicalPhoto
        let white = RGBColour.white
        let maxOutline = (outline.max() ?? 1) * radius + edge + pixelSize

        for py in 0..<n {
            let y = normalised(py)
            for px in 0..<n {
                let x = normalised(px)
                let index = py * n + px
                // Skin: broad mottling, plus fine texture in clinical photographs.
                var s = 0.94 + 0.12 * skinNoise.fbm(x * 2.5, y * 2.5, octaves: 2)
                if clinical { s *= 0.97 + 0.06 * skinNoise(x * 30 + 41, y * 30 - 7) }
                var c = skin.scaled(s)

                let dx = x - centreX, dy = y - centreY
                if dx * dx + dy * dy < maxOutline * maxOutline {
                    let lx = (dx * cosT + dy * sinT) / radius
                    let ly = (-dx * sinT + dy * cosT) / radius
                    lesionX[index] = lx
                    lesionY[index] = ly
                    let rr = (lx * lx + ly * ly).squareRoot()
                    let b = outlineRadius(lx, ly)
                    let inside = (b - rr) * radius
                    let alpha = smoothstep(-edge / 2, edge / 2, inside)
                    mask[index] = alpha
                    if alpha > 0 {
                        let rho = rr / b
                        c = c.mixed(with: lesionColour(lx, ly, rho: rho, span: colourCentreSpan, mix: colourMix), alpha)
                        if net.density > 0, net.contrast > 0 {
                            // Network: warped cellular mesh; atypical = broad, variable, patchy.
                            let warp = irregular * 0.5
                            let u = lx * cellsPerRadius + (warpNoise(lx * 2, ly * 2) - 0.5) * 2 * warp * cellsPerRadius * 0.25
                            let v = ly * cellsPerRadius + (warpNoise(lx * 2 + 9.3, ly * 2 - 4.1) - 0.5) * 2 * warp * cellsPerRadius * 0.25
                            let (f1, f2) = network.distances(u, v)
                            let e = f2 - f1
                            let halfWidth = 0.08 + 0.24 * irregular * widthNoise(lx * 3, ly * 3)
                            let line = 1 - smoothstep(halfWidth * 0.4 - lineAA, halfWidth * 1.6 + lineAA, e)
                            let typicalFade = 1 - 0.75 * smoothstep(0.55, 1.0, rho)
                            let patch = smoothstep(0.35, 0.6, patchNoise(lx * 2.2, ly * 2.2))
                            var fade = typicalFade * (1 - irregular) + patch * irregular
                            if net.placement == .rim { fade *= smoothstep(0.45, 0.8, rho) }
                            let k = net.contrast * fade * alpha
                            c = c.scaled(1 - 0.5 * k * line + 0.08 * k * (1 - line))
                        }
                        if p.whiteArea.strength > 0, p.whiteArea.extent > 0 {
                            let m = blotch(lx, ly, cx: colourCentreX * 0.5, cy: colourCentreY * 0.5,
                                           extent: p.whiteArea.extent, noise: areaNoise)
                            c = c.mixed(with: white, p.whiteArea.strength * 0.85 * m * alpha)
                        }
                    }
                }
                let k = index * 3
                canvas.rgb[k] = c.r
                canvas.rgb[k + 1] = c.g
                canvas.rgb[k + 2] = c.b
            }
        }
    }

    /// Base colour of the lesion at a point: palette regions laid out by distance from the
    /// colour centre (area-weighted), blended with blotchy noise as asymmetry grows.
    @inline(__always)
    func lesionColour(_ lx: Float, _ ly: Float, rho: Float, span: Float, mix: Float) -> RGBColour {
        let ex = lx - colourCentreX, ey = ly - colourCentreY
        let radial = min(1, (ex * ex + ey * ey) / (span * span))
        // Noise sampled on rotated axes so its lattice never lines up with the image grid.
        let blot = clamp01((colourNoise.fbm(lx * 1.3 - ly * 0.95, lx * 0.95 + ly * 1.3, octaves: 2) - 0.5) * 2.4 + 0.5)
        let s = radial + (blot - radial) * mix
        var c = palette[0]
        for i in 0..<(palette.count - 1) {
            let t = smoothstep(cumulativeWeights[i] - 0.1, cumulativeWeights[i] + 0.1, s)
            c = c.mixed(with: palette[i + 1], t)
        }
        return c.scaled(0.93 + 0.14 * mottleNoise(lx * 3.2 + ly * 2.4, ly * 3.2 - lx * 2.4))
    }

    /// Soft, noisy-edged blob of radius `extent` (lesion radii) around (cx, cy); 1 inside.
    @inline(__always)
    func blotch(_ lx: Float, _ ly: Float, cx: Float, cy: Float, extent: Float, noise: ValueNoise) -> Float {
        let dx = lx - cx, dy = ly - cy
        let d = (dx * dx + dy * dy).squareRoot() / max(extent, 0.05)
        let wobble = (noise.fbm(lx * 2.5, ly * 2.5, octaves: 2) - 0.5) * 0.7
        return 1 - smoothstep(0.55, 1.0, d + wobble)
    }

    mutating func drawGlobules() {
        let g = p.globules
        guard g.count > 0 else { return }
        let clusters = (0..<3).map { _ in rng.uniform(0, 6.2832) }
        for _ in 0..<g.count {
            let u = rng.unit()
            let rho = (1 - g.peripheral) * 0.6 * u.squareRoot() + g.peripheral * (0.70 + 0.22 * u)
            var angle = rng.uniform(0, 6.2832)
            if rng.unit() < g.irregularity { angle = clusters[Int(rng.unit() * 3) % 3] + 0.45 * rng.gaussian() }
            let spread = g.irregularity * 0.9
            let sizeFactor = min(max(1 + (0.12 + spread) * rng.gaussian(), 0.3), 2.4)
            let lx0 = cos(angle) * rho, ly0 = sin(angle) * rho
            let b = outlineRadius(lx0, ly0)
            let (px, py) = toPixel(lx0 * b, ly0 * b)
            let shade = 1 + 0.08 * rng.gaussian()
            canvas.disc(px, py, radius: g.size * sizeFactor * radiusPixels, core: 0.55,
                        colour: g.colour.scaled(shade), opacity: 0.92, weights: mask)
        }
    }

    /// Darkest palette colour, which streaks, pseudopods and rims take.
    var darkestColour: RGBColour { palette.min { $0.luma < $1.luma } ?? .darkBrown }

    mutating func drawStreaks() {
        let st = p.streaks
        guard st.count > 0, st.length > 0 else { return }
        let centre = rng.uniform(0, 6.2832)
        let span = st.arc * 2 * Float.pi
        let step = span / Float(st.count)
        let colour = darkestColour.scaled(0.9)
        for i in 0..<st.count {
            let angle = centre - span / 2 + step * (Float(i) + 0.5) + step * 0.35 * rng.gaussian()
            let dirX = cos(angle), dirY = sin(angle)
            let b = outlineRadius(dirX, dirY)
            let start = b * 0.78
            let end = b + st.length * (0.75 + 0.5 * rng.unit())
            let (ax, ay) = toPixel(dirX * start, dirY * start)
            let (bx, by) = toPixel(dirX * end, dirY * end)
            let w = 0.036 * radiusPixels
            canvas.capsule(ax, ay, bx, by, radius: w, w * 0.45, colour: colour, opacity: 0.8)
            if rng.unit() < 0.35 {
                // Pseudopod: a small bulbous tip.
                canvas.disc(bx, by, radius: w * 1.1, core: 0.5, colour: colour, opacity: 0.75)
            }
        }
    }

    mutating func drawSatellites() {
        let sat = p.satellites
        guard sat.count > 0 else { return }
        let colour = palette[0].mixed(with: skin, 0.2)
        for _ in 0..<sat.count {
            // Somewhere on the visible skin, not on the main lesion.
            var placed: (Float, Float)? = nil
            for _ in 0..<20 {
                let x = rng.uniform(-0.8, 0.8), y = rng.uniform(-0.8, 0.8)
                let dx = x - centreX, dy = y - centreY
                let lx = (dx * cosT + dy * sinT) / radius, ly = (-dx * sinT + dy * cosT) / radius
                if (lx * lx + ly * ly).squareRoot() > outlineRadius(lx, ly) * 1.15 + sat.size {
                    placed = (x, y)
                    break
                }
            }
            guard let (x, y) = placed else { continue }
            let px = (x + 1) * Float(n) / 2 - 0.5, py = (y + 1) * Float(n) / 2 - 0.5
            let r = sat.size * radiusPixels * rng.uniform(0.7, 1.3)
            canvas.disc(px, py, radius: r, core: 0.35, colour: colour.scaled(1 + 0.06 * rng.gaussian()), opacity: 0.85)
            satelliteDiscs.append((px, py, r))
        }
    }

    /// Pass 2: per-pixel overlays over what is drawn so far: the blue-white veil (it hides
    /// structure beneath it) and the red pseudonetwork.
    mutating func drawOverlays() {
        let v = p.veil
        let veilOn = v.strength > 0 && v.extent > 0
        let pseudo = p.vessels.pattern == .redPseudonetwork
        guard veilOn || pseudo else { return }
        let veilColour = RGBColour(0.56, 0.61, 0.70)
        let meshColour = RGBColour(0.80, 0.28, 0.30), follicle = RGBColour(0.96, 0.90, 0.86)
        let cells = 4 + 5 * p.vessels.density
        let cx = colourCentreX * 0.8, cy = colourCentreY * 0.8
        for index in 0..<(n * n) where mask[index] > 0 {
            let lx = lesionX[index], ly = lesionY[index]
            if pseudo {
                // Follicles are the cells' centres; the red mesh runs between them.
                let (f1, f2) = network.distances(lx * cells + 31.7, ly * cells - 12.9)
                let line = 1 - smoothstep(0.08, 0.3, f2 - f1)
                let hole = 1 - smoothstep(0.12, 0.22, f1)
                canvas.blend(index, meshColour, 0.75 * line * mask[index])
                canvas.blend(index, follicle, 0.6 * hole * mask[index])
            }
            if veilOn {
                let m = blotch(lx, ly, cx: cx, cy: cy, extent: v.extent, noise: areaNoise)
                guard m > 0 else { continue }
                // Ground-glass texture: a little brightness variation inside the veil.
                let grain = 0.94 + 0.12 * mottleNoise(lx * 9 + 3.3, ly * 9 - 1.7)
                canvas.blend(index, veilColour.scaled(grain), v.strength * 0.7 * m * mask[index])
            }
        }
    }

    mutating func drawVesicles() {
        let ves = p.vesicles
        guard ves.count > 0 else { return }
        var spots: [(Float, Float, Float)] = []
        for _ in 0..<ves.count {
            let rho = 0.8 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
            let (px, py) = toPixel(rho * cos(a), rho * sin(a))
            spots.append((px, py, ves.size * radiusPixels * rng.uniform(0.75, 1.25)))
        }
        for disc in satelliteDiscs { spots.append((disc.x, disc.y, min(ves.size * radiusPixels, disc.r * 0.7))) }
        let fluid = RGBColour(0.97, 0.94, 0.80), halo = RGBColour(0.86, 0.42, 0.42), dell = RGBColour(0.62, 0.50, 0.42)
        for (x, y, r) in spots {
            canvas.disc(x, y, radius: r * 1.45, core: 0.4, colour: halo, opacity: 0.45)
            canvas.disc(x, y, radius: r, core: 0.7, colour: fluid, opacity: 0.9)
            canvas.disc(x - r * 0.3, y - r * 0.35, radius: r * 0.3, core: 0.3, colour: RGBColour(1, 1, 1), opacity: 0.7)
            if ves.umbilicated { canvas.disc(x, y, radius: r * 0.3, core: 0.5, colour: dell, opacity: 0.8) }
        }
    }

    mutating func drawVessels() {
        let v = p.vessels
        guard v.pattern != .none else { return }
        let red = RGBColour.vesselRed
        let rp = radiusPixels
        switch v.pattern {
        case .none:
            return
        case .arborizing:
            let trunks = 1 + Int(v.density * 4.5)
            for _ in 0..<trunks {
                let rho = rng.uniform(0.05, 0.7), a = rng.uniform(0, 6.2832)
                branch(x: rho * cos(a), y: rho * sin(a), angle: rng.uniform(0, 6.2832),
                       length: 0.38, width: 0.04, depth: 3, colour: red)
            }
        case .dotted:
            let count = 8 + Int(v.density * 70)
            for _ in 0..<count {
                let rho = 0.9 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
                let (px, py) = toPixel(rho * cos(a), rho * sin(a))
                canvas.disc(px, py, radius: 0.028 * rp * (1 + 0.15 * rng.gaussian()), core: 0.5,
                            colour: red, opacity: 0.9, weights: mask)
            }
        case .hairpin:
            let count = 3 + Int(v.density * 22)
            let halo = RGBColour(0.96, 0.93, 0.90)
            for _ in 0..<count {
                let rho = 0.85 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
                let ox = rho * cos(a), oy = rho * sin(a)
                let dir = a + 0.6 * rng.gaussian()
                let length: Float = 0.1, gap: Float = 0.024
                let ux = cos(dir), uy = sin(dir), nx = -uy, ny = ux
                let (hx0, hy0) = toPixel(ox, oy)
                let (hx1, hy1) = toPixel(ox + ux * length, oy + uy * length)
                canvas.capsule(hx0, hy0, hx1, hy1, radius: gap * 2.2 * rp, gap * 2.2 * rp, colour: halo, opacity: 0.3, weights: mask)
                for side: Float in [-1, 1] {
                    let (ax, ay) = toPixel(ox + nx * gap * side, oy + ny * gap * side)
                    let (bx, by) = toPixel(ox + nx * gap * side + ux * length, oy + ny * gap * side + uy * length)
                    canvas.capsule(ax, ay, bx, by, radius: 0.014 * rp, 0.014 * rp, colour: red, opacity: 0.9, weights: mask)
                }
                // The loop's bend.
                let (tx, ty) = toPixel(ox + ux * (length + gap * 0.8), oy + uy * (length + gap * 0.8))
                let (lx, ly) = toPixel(ox + nx * gap + ux * length, oy + ny * gap + uy * length)
                let (rx, ry) = toPixel(ox - nx * gap + ux * length, oy - ny * gap + uy * length)
                canvas.capsule(lx, ly, tx, ty, radius: 0.014 * rp, 0.014 * rp, colour: red, opacity: 0.9, weights: mask)
                canvas.capsule(tx, ty, rx, ry, radius: 0.014 * rp, 0.014 * rp, colour: red, opacity: 0.9, weights: mask)
            }
        case .linearIrregular:
            meanderingVessels(count: 2 + Int(v.density * 9))
        case .glomerular:
            let clusters = 3 + Int(v.density * 5)
            for _ in 0..<clusters {
                let rho = 0.8 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
                let ox = rho * cos(a), oy = rho * sin(a)
                for _ in 0..<(5 + Int(rng.unit() * 6)) {
                    // Each glomerulus: a tiny tight coil, drawn as two short crossing strokes.
                    let gx = ox + 0.07 * rng.gaussian(), gy = oy + 0.07 * rng.gaussian()
                    let t = rng.uniform(0, 6.2832), s: Float = 0.022
                    let (ax, ay) = toPixel(gx - s * cos(t), gy - s * sin(t)), (bx, by) = toPixel(gx + s * cos(t), gy + s * sin(t))
                    let (cx, cy) = toPixel(gx - s * sin(t), gy + s * cos(t)), (dx, dy) = toPixel(gx + s * sin(t), gy - s * cos(t))
                    canvas.capsule(ax, ay, bx, by, radius: 0.016 * rp, 0.016 * rp, colour: red, opacity: 0.85, weights: mask)
                    canvas.capsule(cx, cy, dx, dy, radius: 0.016 * rp, 0.016 * rp, colour: red, opacity: 0.85, weights: mask)
                }
            }
        case .comma:
            commaVessels(count: 6 + Int(v.density * 20))
        case .polymorphous:
            let count = 8 + Int(v.density * 30)
            for _ in 0..<count {
                let rho = 0.9 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
                let (px, py) = toPixel(rho * cos(a), rho * sin(a))
                canvas.disc(px, py, radius: 0.026 * rp, core: 0.5, colour: red, opacity: 0.85, weights: mask)
            }
            meanderingVessels(count: 2 + Int(v.density * 5))
            commaVessels(count: 3 + Int(v.density * 6))
        case .lacunae:
            let count = 8 + Int(v.density * 22)
            let bright = RGBColour(0.72, 0.10, 0.18), dark = RGBColour(0.36, 0.05, 0.16)
            for _ in 0..<count {
                let rho = 0.78 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
                let (px, py) = toPixel(rho * cos(a), rho * sin(a))
                canvas.disc(px, py, radius: rng.uniform(0.07, 0.13) * rp, core: 0.75,
                            colour: bright.mixed(with: dark, rng.unit()), opacity: 0.92, weights: mask)
            }
        case .redPseudonetwork:
            return  // drawn per pixel in drawOverlays
        }
    }

    mutating func commaVessels(count: Int) {
        let rp = radiusPixels
        for _ in 0..<count {
            let rho = 0.85 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
            let x = rho * cos(a), y = rho * sin(a)
            let dir = rng.uniform(0, 6.2832), bend = dir + (rng.unit() < 0.5 ? -0.9 : 0.9)
            let mx = x + cos(dir) * 0.05, my = y + sin(dir) * 0.05
            let ex = mx + cos(bend) * 0.04, ey = my + sin(bend) * 0.04
            let (ax, ay) = toPixel(x, y), (bx, by) = toPixel(mx, my), (cx, cy) = toPixel(ex, ey)
            canvas.capsule(ax, ay, bx, by, radius: 0.02 * rp, 0.016 * rp, colour: .vesselRed, opacity: 0.85, weights: mask)
            canvas.capsule(bx, by, cx, cy, radius: 0.016 * rp, 0.01 * rp, colour: .vesselRed, opacity: 0.85, weights: mask)
        }
    }

    mutating func meanderingVessels(count: Int) {
        let red = RGBColour.vesselRed
        let rp = radiusPixels
        for _ in 0..<count {
            let rho = 0.8 * rng.unit().squareRoot(), a = rng.uniform(0, 6.2832)
            var x = rho * cos(a), y = rho * sin(a)
            var dir = rng.uniform(0, 6.2832)
            let width = 0.018 * rp * (0.8 + 0.5 * rng.unit())
            for _ in 0..<7 {
                let step = 0.09 * (0.6 + 0.8 * rng.unit())
                let nx = x + cos(dir) * step, ny = y + sin(dir) * step
                let (ax, ay) = toPixel(x, y), (bx, by) = toPixel(nx, ny)
                canvas.capsule(ax, ay, bx, by, radius: width, width, colour: red.scaled(0.95 + 0.1 * rng.unit()),
                               opacity: 0.85, weights: mask)
                x = nx
                y = ny
                dir += 0.8 * rng.gaussian()
            }
        }
    }

    /// One arborizing vessel segment and its two thinner daughter branches.
    mutating func branch(x: Float, y: Float, angle: Float, length: Float, width: Float, depth: Int, colour: RGBColour) {
        let bend = angle + 0.25 * rng.gaussian()
        let mx = x + cos(angle) * length * 0.5, my = y + sin(angle) * length * 0.5
        let ex = mx + cos(bend) * length * 0.5, ey = my + sin(bend) * length * 0.5
        let rp = radiusPixels
        let (ax, ay) = toPixel(x, y), (bx, by) = toPixel(mx, my), (cx, cy) = toPixel(ex, ey)
        canvas.capsule(ax, ay, bx, by, radius: width * rp, width * 0.85 * rp, colour: colour, opacity: 0.95, weights: mask)
        canvas.capsule(bx, by, cx, cy, radius: width * 0.85 * rp, width * 0.7 * rp, colour: colour, opacity: 0.95, weights: mask)
        guard depth > 0 else { return }
        for side: Float in [-1, 1] {
            branch(x: ex, y: ey, angle: bend + side * rng.uniform(0.3, 0.75), length: length * 0.65,
                   width: width * 0.62, depth: depth - 1, colour: colour)
        }
    }

    /// Pass 3: scale or crust, and the specular highlight of a shiny surface.
    mutating func drawSurface() {
        let sc = p.scale
        let shine = p.shine
        guard sc.amount > 0 || shine > 0 else { return }
        let threshold = 0.78 - sc.amount * 0.4
        let opacity = min(1, sc.amount * 2) * 0.9
        let highlightX = centreX - 0.3 * radius, highlightY = centreY - 0.35 * radius
        let spread = 2 * (0.3 * radius) * (0.3 * radius)
        for py in 0..<n {
            let y = normalised(py)
            for px in 0..<n {
                let index = py * n + px
                let lx = lesionX[index], ly = lesionY[index]
                let m = mask[index]
                if sc.amount > 0, m > 0 {
                    let region = m * (1 - smoothstep(0.85, 1.1, (lx * lx + ly * ly).squareRoot() / outlineRadius(lx, ly)))
                    let f = scaleNoise.fbm(lx * 5, ly * 5, octaves: 3)
                    let flake = smoothstep(threshold, threshold + 0.1, f) * region
                    if flake > 0 {
                        let speckle = 0.88 + 0.24 * lineNoise(lx * 22, ly * 22)
                        canvas.blend(index, sc.colour.scaled(speckle), opacity * flake)
                    }
                }
                if shine > 0, m > 0 {
                    let x = normalised(px)
                    let dx = x - highlightX, dy = y - highlightY
                    let g = exp(-(dx * dx + dy * dy) / spread)
                    canvas.blend(index, RGBColour(1, 1, 1), shine * 0.6 * g * m)
                }
            }
        }
    }

    mutating func drawHair() {
        let clinical = p.style == .clinicalPhoto
        let count = clinical ? Int(cameraRng.unit() * 5) : (cameraRng.unit() < 0.35 ? 1 + Int(cameraRng.unit() * 2) : 0)
        let hair = RGBColour(0.13, 0.09, 0.07)
        let width = max(0.0035 * Float(n), 0.3)
        for _ in 0..<count {
            var x = cameraRng.uniform(-1.1, 1.1) * Float(n) / 2 + Float(n) / 2
            var y = cameraRng.uniform(-1.1, 1.1) * Float(n) / 2 + Float(n) / 2
            var dir = cameraRng.uniform(0, 6.2832)
            let curl = 0.15 * cameraRng.gaussian()
            let step = Float(n) * cameraRng.uniform(0.04, 0.07)
            for _ in 0..<10 {
                let nx = x + cos(dir) * step, ny = y + sin(dir) * step
                canvas.capsule(x, y, nx, ny, radius: width, width, colour: hair, opacity: 0.85)
                x = nx
                y = ny
                dir += curl
            }
        }
    }

    /// Pass 4: style (lighting, colour cast, blur, dermoscope vignette), domain shift,
    /// sensor noise, and quantisation to bytes.
    mutating func finish() -> RGBImage {
        let clinical = p.style == .clinicalPhoto
        let lightAngle = cameraRng.uniform(0, 6.2832)
        let lightX = cos(lightAngle), lightY = sin(lightAngle)
        let lightSlope: Float = clinical ? cameraRng.uniform(0.08, 0.2) : 0
        let cast = clinical
            ? RGBColour(1 + 0.05 * cameraRng.gaussian(), 1 + 0.03 * cameraRng.gaussian(), 1 + 0.05 * cameraRng.gaussian())
            : RGBColour(1 + 0.015 * cameraRng.gaussian(), 1 + 0.015 * cameraRng.gaussian(), 1 + 0.015 * cameraRng.gaussian())
        let scopeRadius: Float = cameraRng.uniform(0.97, 1.08)
        let falloff: Float = clinical ? 0.07 : 0.04
        for py in 0..<n {
            let y = normalised(py)
            for px in 0..<n {
                let x = normalised(px)
                let light = (1 + lightSlope * (x * lightX + y * lightY)) * (1 - falloff * (x * x + y * y))
                let k = (py * n + px) * 3
                canvas.rgb[k] *= light * cast.r
                canvas.rgb[k + 1] *= light * cast.g
                canvas.rgb[k + 2] *= light * cast.b
            }
        }
        if clinical { canvas.soften(0.6) }

        let shift = p.domainShift
        let neutral = shift.isNeutral
        let baseNoise: Float = 0.006
        var out = [UInt8](repeating: 0, count: n * n * 3)
        for py in 0..<n {
            let y = normalised(py)
            for px in 0..<n {
                let x = normalised(px)
                let k = (py * n + px) * 3
                var r = canvas.rgb[k], g = canvas.rgb[k + 1], b = canvas.rgb[k + 2]
                let r2 = x * x + y * y
                if !clinical {
                    let scope = 1 - smoothstep(scopeRadius - 0.03, scopeRadius + 0.03, r2.squareRoot())
                    r = r * scope + 0.02 * (1 - scope)
                    g = g * scope + 0.02 * (1 - scope)
                    b = b * scope + 0.02 * (1 - scope)
                }
                if !neutral {
                    r *= shift.colourCast.r
                    g *= shift.colourCast.g
                    b *= shift.colourCast.b
                    let l = 0.299 * r + 0.587 * g + 0.114 * b
                    r = l + (r - l) * shift.saturation
                    g = l + (g - l) * shift.saturation
                    b = l + (b - l) * shift.saturation
                    r = 0.5 + (r - 0.5) * shift.contrast
                    g = 0.5 + (g - 0.5) * shift.contrast
                    b = 0.5 + (b - 0.5) * shift.contrast
                    if shift.gamma != 1 {
                        r = pow(clamp01(r), shift.gamma)
                        g = pow(clamp01(g), shift.gamma)
                        b = pow(clamp01(b), shift.gamma)
                    }
                    let v = 1 - shift.vignette * smoothstep(0.4, 2.0, r2)
                    r *= v
                    g *= v
                    b *= v
                }
                let grain = (baseNoise + shift.noise) * cameraRng.gaussian()
                out[k] = quantise(r + grain)
                out[k + 1] = quantise(g + grain)
                out[k + 2] = quantise(b + grain)
            }
        }
        // The byte count matches the size by construction.
        return try! RGBImage(width: n, height: n, pixels: out)
    }
}

@inline(__always)
private func quantise(_ v: Float) -> UInt8 { UInt8(clamp01(v) * 255 + 0.5) }
