import Domain

/// How large a synthetic corpus is.
public enum CorpusScale: String, Sendable, Codable, CaseIterable {
    /// For tests and smoke runs: under a thousand cases at 48 px.
    case small
    /// What a normal local run uses: a few thousand cases at 64 px.
    case `default`
    /// For longer runs: tens of thousands of cases at 96 px.
    case large

    /// Textbook exemplars drawn for every diagnosis the corpus uses.
    public var textbookPerDiagnosis: Int {
        switch self {
        case .small: 2
        case .default: 6
        case .large: 16
        }
    }

    /// Lesions of a training dataset whose size weight is 1.
    public var trainingLesions: Int {
        switch self {
        case .small: 70
        case .default: 420
        case .large: 2_500
        }
    }

    /// Lesions of an out-of-distribution dataset whose size weight is 1.
    public var oodLesions: Int {
        switch self {
        case .small: 30
        case .default: 120
        case .large: 600
        }
    }

    /// Side of the square images stored, in pixels (the policy downscales to its input).
    public var imageSide: Int {
        switch self {
        case .small: 48
        case .default: 64
        case .large: 96
        }
    }

    /// JPEG quality of the stored images.
    public var jpegQuality: Int { 88 }
}

/// The role a dataset plays: textbook exemplars (SFT trajectories), training data
/// (RL and in-distribution evaluation), or out-of-distribution evaluation only.
/// The raw values are the `datasets.role` column's.
public enum CorpusRole: String, Sendable, Codable, CaseIterable {
    case textbook
    case train
    case ood
}

/// The split of a case; raw values are the `cases.split` column's.
public enum CorpusSplit: String, Sendable, Codable, CaseIterable, Comparable {
    case train
    case val
    case test

    public static func < (a: CorpusSplit, b: CorpusSplit) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The design of one synthetic dataset: whose label vocabulary it borrows, how it is
/// photographed, how many images each lesion has and how large it is.
public struct SyntheticDatasetSpec: Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: CorpusRole
    /// The real dataset whose label map gives this dataset its vocabulary (nil: textbook).
    public var labelMap: String?
    /// The level of that map whose codes label the cases.
    public var labelLevel: String?
    /// Codes of the level left out (e.g. ISBI 2016's numeric duplicates of its words).
    public var excludedCodes: Set<String>
    /// What one label tells: "7 coarse classes", "3 levels (5/15/40)".
    public var granularity: String
    /// Imaging style of each image of a lesion, cycled (two entries: one of each per lesion).
    public var styles: [LesionRenderParameters.ImagingStyle]
    /// Strength of the acquisition shift (0 for none, 1 for the full out-of-distribution shift).
    public var domainShift: Float
    public var skinTones: [RGBColour]
    public var imagesPerLesion: ClosedRange<Int>
    /// Lesion count relative to the scale's base count.
    public var sizeWeight: Double
    /// Chance that a lesion borrows one discrete feature from a confusable diagnosis.
    public var atypicalRate: Double
    public var description: String

    /// The `datasets.image_style` text.
    public var imageStyleName: String {
        var names: [String] = []
        for style in styles where !names.contains(style.storedName) { names.append(style.storedName) }
        let base = names.joined(separator: "+")
        return domainShift > 0 ? base + " (shifted acquisition)" : base
    }

    /// Whether several images share one lesion, so splits must keep them together.
    public var isGrouped: Bool { imagesPerLesion.upperBound > 1 }
}

extension LesionRenderParameters.ImagingStyle {
    /// The name stored in the catalogue.
    public var storedName: String {
        switch self {
        case .dermoscopy: "dermoscopy"
        case .clinicalPhoto: "clinical_photo"
        }
    }
}

/// The synthetic corpus: one textbook set, six sparse training sets whose vocabularies and
/// granularities follow the six training datasets of the method, and three
/// out-of-distribution sets with their own vocabularies and a shifted acquisition.
public enum SyntheticCorpusDesign {
    public static let textbookID = "synth-textbook"

    static let lightTones: [RGBColour] = [.skinVeryLight, .skinLight, .skinLight, .skinMedium]
    static let allTones: [RGBColour] = [.skinVeryLight, .skinLight, .skinMedium, .skinOlive, .skinBrown, .skinDark]
    static let mixedTones: [RGBColour] = [.skinLight, .skinMedium, .skinOlive, .skinBrown]

    public static let datasets: [SyntheticDatasetSpec] = [
        SyntheticDatasetSpec(
            id: textbookID, name: "Synthetic textbook exemplars", role: .textbook, labelMap: nil, labelLevel: nil,
            excludedCodes: [], granularity: "finest diagnosis with its rule",
            styles: [.dermoscopy, .dermoscopy, .clinicalPhoto], domainShift: 0, skinTones: allTones,
            imagesPerLesion: 1...1, sizeWeight: 1, atypicalRate: 0,
            description: "Dense exemplars (image, rationale, diagnosis): each image drawn from its diagnosis's rule hallmarks, the rationale naming the features drawn."),
        SyntheticDatasetSpec(
            id: "synth-ham", name: "Synthetic HAM-like", role: .train, labelMap: "HAM10000", labelLevel: "dx",
            excludedCodes: [], granularity: "7 coarse classes",
            styles: [.dermoscopy], domainShift: 0, skinTones: lightTones,
            imagesPerLesion: 1...3, sizeWeight: 1.0, atypicalRate: 0.2,
            description: "Dermoscopy, seven coarse classes, several images per lesion (grouped split by lesion)."),
        SyntheticDatasetSpec(
            id: "synth-bcn", name: "Synthetic BCN-like", role: .train, labelMap: "BCN20000", labelLevel: "diagnosis",
            excludedCodes: [], granularity: "8 classes",
            styles: [.dermoscopy], domainShift: 0, skinTones: lightTones,
            imagesPerLesion: 1...1, sizeWeight: 1.2, atypicalRate: 0.25,
            description: "Dermoscopy, eight classes including actinic keratosis and squamous cell carcinoma."),
        SyntheticDatasetSpec(
            id: "synth-pad", name: "Synthetic PAD-UFES-like", role: .train, labelMap: "PAD-UFES-20", labelLevel: "diagnostic",
            excludedCodes: [], granularity: "6 classes",
            styles: [.clinicalPhoto], domainShift: 0, skinTones: mixedTones,
            imagesPerLesion: 1...2, sizeWeight: 0.6, atypicalRate: 0.2,
            description: "Smartphone-style clinical photographs, six classes, one or two images per lesion."),
        SyntheticDatasetSpec(
            id: "synth-derm7pt", name: "Synthetic Derm7pt-like", role: .train, labelMap: "Derm7pt", labelLevel: "diagnosis",
            excludedCodes: [], granularity: "fine subtypes (19 diagnoses)",
            styles: [.dermoscopy, .clinicalPhoto], domainShift: 0, skinTones: lightTones,
            imagesPerLesion: 2...2, sizeWeight: 0.5, atypicalRate: 0.15,
            description: "Fine melanocytic subtypes; each lesion has a dermoscopic and a clinical image."),
        SyntheticDatasetSpec(
            id: "synth-derm12345", name: "Synthetic DERM12345-like", role: .train, labelMap: "DERM12345", labelLevel: "label",
            excludedCodes: [], granularity: "3 levels (5 super classes / 15 main classes / 40 labels)",
            styles: [.dermoscopy], domainShift: 0, skinTones: lightTones,
            imagesPerLesion: 1...1, sizeWeight: 1.0, atypicalRate: 0.2,
            description: "Dermoscopy labelled at the finest of three levels; the coarser levels are in each case's metadata."),
        SyntheticDatasetSpec(
            id: "synth-dermnet", name: "Synthetic DermNet-like", role: .train, labelMap: "DermNet", labelLevel: "category",
            excludedCodes: [], granularity: "coarse families (23 categories)",
            styles: [.clinicalPhoto], domainShift: 0, skinTones: allTones,
            imagesPerLesion: 1...1, sizeWeight: 1.2, atypicalRate: 0.2,
            description: "Clinical photographs labelled only with broad disease families."),
        SyntheticDatasetSpec(
            id: "synth-ood-isic2019", name: "Synthetic ISIC2019-like (out of distribution)", role: .ood,
            labelMap: "ISIC2019", labelLevel: "class", excludedCodes: [], granularity: "8 classes",
            styles: [.dermoscopy], domainShift: 1, skinTones: allTones,
            imagesPerLesion: 1...1, sizeWeight: 1.0, atypicalRate: 0.25,
            description: "Another clinic: shifted colour, contrast, vignetting and noise; never used in training."),
        SyntheticDatasetSpec(
            id: "synth-ood-mpox", name: "Synthetic Monkeypox-like (out of distribution)", role: .ood,
            labelMap: "Monkeypox2022", labelLevel: "class", excludedCodes: [], granularity: "4 classes",
            styles: [.clinicalPhoto], domainShift: 0.8, skinTones: allTones,
            imagesPerLesion: 1...1, sizeWeight: 0.6, atypicalRate: 0.1,
            description: "Clinical photographs of viral rashes and normal skin from another source; never used in training."),
        SyntheticDatasetSpec(
            id: "synth-ood-isbi2016", name: "Synthetic ISBI2016-like (out of distribution)", role: .ood,
            labelMap: "ISBI2016", labelLevel: "label", excludedCodes: ["0", "1"], granularity: "benign / malignant",
            styles: [.dermoscopy], domainShift: 1, skinTones: lightTones,
            imagesPerLesion: 1...1, sizeWeight: 0.6, atypicalRate: 0.25,
            description: "Melanoma against benign lesions, labelled only benign or malignant; never used in training."),
    ]

    public static var datasetIDs: [String] { datasets.map(\.id) }
}
