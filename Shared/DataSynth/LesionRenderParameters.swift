/// Pixel-level description of one synthetic skin lesion image: what the renderer draws.
///
/// Every hallmark is a knob with "absent" at zero, so a parameter set reads as the list of
/// dermoscopic features present. Amounts are in 0...1 unless stated otherwise; lengths are
/// fractions of the lesion radius, and the lesion radius is a fraction of half the image.
/// `validate()` names the first field outside its range.
public struct LesionRenderParameters: Sendable, Hashable, Codable {
    /// Surrounding skin.
    public var skinTone: RGBColour
    /// 1 to 4 lesion colours with positive weights (share of the lesion's area). The first
    /// colour sits at the colour centre, later ones further out: list a darker colour first
    /// for central hyperpigmentation.
    public var palette: [PaletteEntry]
    /// Lesion radius as a fraction of half the image side, 0.08...0.9.
    public var radius: Float
    /// Asymmetry of shape (lumpy low-frequency outline) and of colour (an eccentric colour
    /// centre and blotchy colour regions).
    public var asymmetry: Float
    /// High-frequency notches and projections of the outline.
    public var borderIrregularity: Float
    /// 1 is a knife-sharp edge, 0 fades into the skin over a third of the radius.
    public var borderSharpness: Float
    public var network: PigmentNetwork
    public var globules: Globules
    public var streaks: Streaks
    public var veil: BlueWhiteVeil
    /// White structureless, scar-like area (regression, dermatofibroma's central patch).
    public var whiteArea: WhiteArea
    public var vessels: Vessels
    public var scale: Scale
    /// Specular highlight on a raised or shiny surface, 0...1.
    public var shine: Float
    /// Smaller lesions of the same kind around the main one.
    public var satellites: Satellites
    /// Vesicles or pustules on the lesion (and one on each satellite).
    public var vesicles: Vesicles
    public var style: ImagingStyle
    /// Acquisition shift applied after the style, for out-of-distribution sets.
    public var domainShift: DomainShift

    public init(
        skinTone: RGBColour = .skinLight,
        palette: [PaletteEntry] = [PaletteEntry(.lightBrown, weight: 1)],
        radius: Float = 0.5,
        asymmetry: Float = 0,
        borderIrregularity: Float = 0,
        borderSharpness: Float = 0.7,
        network: PigmentNetwork = .none,
        globules: Globules = .none,
        streaks: Streaks = .none,
        veil: BlueWhiteVeil = .none,
        whiteArea: WhiteArea = .none,
        vessels: Vessels = .none,
        scale: Scale = .none,
        shine: Float = 0,
        satellites: Satellites = .none,
        vesicles: Vesicles = .none,
        style: ImagingStyle = .dermoscopy,
        domainShift: DomainShift = .none
    ) {
        self.skinTone = skinTone
        self.palette = palette
        self.radius = radius
        self.asymmetry = asymmetry
        self.borderIrregularity = borderIrregularity
        self.borderSharpness = borderSharpness
        self.network = network
        self.globules = globules
        self.streaks = streaks
        self.veil = veil
        self.whiteArea = whiteArea
        self.vessels = vessels
        self.scale = scale
        self.shine = shine
        self.satellites = satellites
        self.vesicles = vesicles
        self.style = style
        self.domainShift = domainShift
    }

    public struct PaletteEntry: Sendable, Hashable, Codable {
        public var colour: RGBColour
        public var weight: Float
        public init(_ colour: RGBColour, weight: Float) {
            self.colour = colour
            self.weight = weight
        }
    }

    /// Reticular pigment network: dark lines around lighter holes.
    public struct PigmentNetwork: Sendable, Hashable, Codable {
        /// 0 is no network; 1 is a fine, dense mesh (about ten cells across the radius).
        public var density: Float
        /// How much darker the lines are than the background.
        public var contrast: Float
        /// 1: even, thin lines fading at the periphery (typical). 0: broadened, variable
        /// lines, distorted holes, patchy and ending abruptly (atypical).
        public var regularity: Float
        public var placement: Placement
        public init(density: Float, contrast: Float, regularity: Float, placement: Placement = .whole) {
            self.density = density
            self.contrast = contrast
            self.regularity = regularity
            self.placement = placement
        }
        public static let none = PigmentNetwork(density: 0, contrast: 0, regularity: 1)

        public enum Placement: String, Sendable, Hashable, Codable, CaseIterable {
            /// Over the whole lesion.
            case whole
            /// Confined to the rim (the delicate peripheral network of dermatofibroma).
            case rim
        }
    }

    /// Dots and globules (also milia-like cysts, blue-grey ovoid nests, lacunae, by colour).
    public struct Globules: Sendable, Hashable, Codable {
        /// Number of dots, 0...200.
        public var count: Int
        /// Typical radius as a fraction of the lesion radius, 0.01...0.3.
        public var size: Float
        public var colour: RGBColour
        /// 0 clusters them in the centre, 1 places them in a peripheral rim.
        public var peripheral: Float
        /// 0: equal sizes, evenly spread. 1: varied sizes, clumped.
        public var irregularity: Float
        public init(count: Int, size: Float, colour: RGBColour, peripheral: Float, irregularity: Float) {
            self.count = count
            self.size = size
            self.colour = colour
            self.peripheral = peripheral
            self.irregularity = irregularity
        }
        public static let none = Globules(count: 0, size: 0.05, colour: .darkBrown, peripheral: 0.5, irregularity: 0)
    }

    /// Radial streaks and pseudopods crossing the border.
    public struct Streaks: Sendable, Hashable, Codable {
        /// Number of streaks, 0...64.
        public var count: Int
        /// Length beyond the border as a fraction of the lesion radius, 0...0.6.
        public var length: Float
        /// Share of the circumference they occupy: 1 all around (starburst), small values
        /// put them in one focal arc.
        public var arc: Float
        public init(count: Int, length: Float, arc: Float) {
            self.count = count
            self.length = length
            self.arc = arc
        }
        public static let none = Streaks(count: 0, length: 0, arc: 1)
    }

    /// Confluent blue-white, ground-glass area over raised pigmented tissue.
    public struct BlueWhiteVeil: Sendable, Hashable, Codable {
        public var strength: Float
        /// Radius of the veiled area as a fraction of the lesion radius, 0...1.
        public var extent: Float
        public init(strength: Float, extent: Float) {
            self.strength = strength
            self.extent = extent
        }
        public static let none = BlueWhiteVeil(strength: 0, extent: 0)
    }

    public struct WhiteArea: Sendable, Hashable, Codable {
        public var strength: Float
        /// Radius as a fraction of the lesion radius, 0...1.
        public var extent: Float
        public init(strength: Float, extent: Float) {
            self.strength = strength
            self.extent = extent
        }
        public static let none = WhiteArea(strength: 0, extent: 0)
    }

    public enum VesselPattern: String, Sendable, Hashable, Codable, CaseIterable {
        case none
        /// Branching, tree-like, sharply focused red vessels (basal cell carcinoma).
        case arborizing
        /// Pinpoint red dots (Spitz, Bowen disease when clustered, inflamed lesions).
        case dotted
        /// Looped vessels with a white halo (keratinising tumours, seborrheic keratosis).
        case hairpin
        /// Irregular linear, meandering vessels (melanoma, squamous cell carcinoma).
        case linearIrregular
        /// Clusters of tiny coiled vessels (Bowen disease).
        case glomerular
        /// Short curved vessels (dermal nevus).
        case comma
        /// Several vessel shapes together: dotted, linear irregular and comma (melanoma).
        case polymorphous
        /// Red to dark round lagoons separated by pale septa (haemangioma, angiokeratoma).
        case lacunae
        /// A red mesh around paler follicular openings (facial actinic keratosis).
        case redPseudonetwork
    }

    public struct Vessels: Sendable, Hashable, Codable {
        public var pattern: VesselPattern
        public var density: Float
        public init(pattern: VesselPattern, density: Float) {
            self.pattern = pattern
            self.density = density
        }
        public static let none = Vessels(pattern: .none, density: 0)
    }

    /// Keratin scale or crust on the surface.
    public struct Scale: Sendable, Hashable, Codable {
        public var amount: Float
        public var colour: RGBColour
        public init(amount: Float, colour: RGBColour) {
            self.amount = amount
            self.colour = colour
        }
        public static let none = Scale(amount: 0, colour: .yellowWhite)
    }

    /// Several lesions rather than one.
    public struct Satellites: Sendable, Hashable, Codable {
        /// Number of extra lesions, 0...40.
        public var count: Int
        /// Their radius as a fraction of the main lesion's, 0.05...0.8.
        public var size: Float
        public init(count: Int, size: Float) {
            self.count = count
            self.size = size
        }
        public static let none = Satellites(count: 0, size: 0.3)
    }

    /// Fluid-filled (white-yellow, shiny) papules, optionally with a central dell.
    public struct Vesicles: Sendable, Hashable, Codable {
        /// Number on the main lesion, 0...60.
        public var count: Int
        /// Radius as a fraction of the lesion radius, 0.02...0.3.
        public var size: Float
        public var umbilicated: Bool
        public init(count: Int, size: Float, umbilicated: Bool) {
            self.count = count
            self.size = size
            self.umbilicated = umbilicated
        }
        public static let none = Vesicles(count: 0, size: 0.1, umbilicated: false)
    }

    /// How the picture was taken.
    public enum ImagingStyle: String, Sendable, Hashable, Codable, CaseIterable {
        /// Contact dermoscopy: magnified, even light, black circular vignette.
        case dermoscopy
        /// Clinical photograph: uneven light, visible skin texture and hair, slight blur,
        /// a camera colour cast.
        case clinicalPhoto
    }

    /// A change of camera, lighting and processing, so that a data set can come from
    /// another "site" than the training data.
    public struct DomainShift: Sendable, Hashable, Codable {
        /// Channel multipliers (1, 1, 1 is neutral).
        public var colourCast: RGBColour
        /// Contrast around mid-grey, 1 is neutral (0.5...2).
        public var contrast: Float
        /// Saturation, 1 is neutral (0...2).
        public var saturation: Float
        /// Gamma applied to each channel, 1 is neutral (0.5...2).
        public var gamma: Float
        /// Extra darkening of the corners, 0...1.
        public var vignette: Float
        /// Standard deviation of added sensor noise, in 0...1 channel units (0...0.2).
        public var noise: Float
        public init(colourCast: RGBColour, contrast: Float, saturation: Float, gamma: Float, vignette: Float, noise: Float) {
            self.colourCast = colourCast
            self.contrast = contrast
            self.saturation = saturation
            self.gamma = gamma
            self.vignette = vignette
            self.noise = noise
        }
        public static let none = DomainShift(colourCast: RGBColour(1, 1, 1), contrast: 1, saturation: 1, gamma: 1, vignette: 0, noise: 0)

        /// A fixed, plausible "other clinic" shift: cooler cast, harder contrast, lower
        /// saturation, darker corners, sensor noise; `strength` 0 is no shift, 1 the full one.
        public static func outOfDistribution(strength: Float) -> DomainShift {
            let s = min(max(strength, 0), 1)
            return DomainShift(
                colourCast: RGBColour(1 - 0.10 * s, 1 + 0.02 * s, 1 + 0.12 * s),
                contrast: 1 + 0.35 * s,
                saturation: 1 - 0.30 * s,
                gamma: 1 + 0.20 * s,
                vignette: 0.45 * s,
                noise: 0.025 * s)
        }

        var isNeutral: Bool { self == .none }
    }

    /// Checks every field against its documented range.
    public func validate() throws(ImageError) {
        func unit(_ v: Float, _ name: String) throws(ImageError) {
            guard v.isFinite, v >= 0, v <= 1 else {
                throw ImageError("lesion parameter \(name) = \(v) is outside 0...1")
            }
        }
        func range(_ v: Float, _ lo: Float, _ hi: Float, _ name: String) throws(ImageError) {
            guard v.isFinite, v >= lo, v <= hi else {
                throw ImageError("lesion parameter \(name) = \(v) is outside \(lo)...\(hi)")
            }
        }
        func colour(_ c: RGBColour, _ name: String) throws(ImageError) {
            try unit(c.r, "\(name).r")
            try unit(c.g, "\(name).g")
            try unit(c.b, "\(name).b")
        }
        try colour(skinTone, "skinTone")
        guard (1...4).contains(palette.count) else {
            throw ImageError("lesion parameter palette has \(palette.count) colours; 1 to 4 are allowed")
        }
        for (i, entry) in palette.enumerated() {
            try colour(entry.colour, "palette[\(i)].colour")
            guard entry.weight.isFinite, entry.weight > 0 else {
                throw ImageError("lesion parameter palette[\(i)].weight = \(entry.weight) must be positive")
            }
        }
        try range(radius, 0.08, 0.9, "radius")
        try unit(asymmetry, "asymmetry")
        try unit(borderIrregularity, "borderIrregularity")
        try unit(borderSharpness, "borderSharpness")
        try unit(network.density, "network.density")
        try unit(network.contrast, "network.contrast")
        try unit(network.regularity, "network.regularity")
        guard (0...200).contains(globules.count) else {
            throw ImageError("lesion parameter globules.count = \(globules.count) is outside 0...200")
        }
        try range(globules.size, 0.01, 0.3, "globules.size")
        try colour(globules.colour, "globules.colour")
        try unit(globules.peripheral, "globules.peripheral")
        try unit(globules.irregularity, "globules.irregularity")
        guard (0...64).contains(streaks.count) else {
            throw ImageError("lesion parameter streaks.count = \(streaks.count) is outside 0...64")
        }
        try range(streaks.length, 0, 0.6, "streaks.length")
        try range(streaks.arc, 0.05, 1, "streaks.arc")
        try unit(veil.strength, "veil.strength")
        try unit(veil.extent, "veil.extent")
        try unit(whiteArea.strength, "whiteArea.strength")
        try unit(whiteArea.extent, "whiteArea.extent")
        try unit(vessels.density, "vessels.density")
        try unit(scale.amount, "scale.amount")
        try colour(scale.colour, "scale.colour")
        try unit(shine, "shine")
        guard (0...40).contains(satellites.count) else {
            throw ImageError("lesion parameter satellites.count = \(satellites.count) is outside 0...40")
        }
        try range(satellites.size, 0.05, 0.8, "satellites.size")
        guard (0...60).contains(vesicles.count) else {
            throw ImageError("lesion parameter vesicles.count = \(vesicles.count) is outside 0...60")
        }
        try range(vesicles.size, 0.02, 0.3, "vesicles.size")
        try range(domainShift.colourCast.r, 0.5, 1.5, "domainShift.colourCast.r")
        try range(domainShift.colourCast.g, 0.5, 1.5, "domainShift.colourCast.g")
        try range(domainShift.colourCast.b, 0.5, 1.5, "domainShift.colourCast.b")
        try range(domainShift.contrast, 0.5, 2, "domainShift.contrast")
        try range(domainShift.saturation, 0, 2, "domainShift.saturation")
        try range(domainShift.gamma, 0.5, 2, "domainShift.gamma")
        try unit(domainShift.vignette, "domainShift.vignette")
        try range(domainShift.noise, 0, 0.2, "domainShift.noise")
    }
}
