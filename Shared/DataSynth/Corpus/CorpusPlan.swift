import Domain

/// One case of the synthetic corpus before rendering: its label, split and everything
/// needed to draw its image deterministically.
public struct SyntheticCase: Sendable, Equatable {
    public var id: String
    public var datasetID: String
    /// The dataset's label, a code of its label map (the diagnosis id for the textbook).
    public var labelCode: String
    public var labelLevel: String?
    /// The taxonomy node the label means; nil when the label only states a condition.
    public var node: NodeID?
    public var condition: LesionCondition
    /// The finest diagnosis whose rule the image was drawn from (hidden by coarse labels).
    public var drawnDiagnosis: NodeID
    public var split: CorpusSplit
    /// The synthetic lesion, for datasets with several images per lesion.
    public var groupKey: String?
    /// Textbook exemplars only: the rule grounded in the features drawn.
    public var rationale: String?
    /// The concrete appearance drawn: the rule's hallmarks with every range narrowed to the
    /// sampled value (and, for an atypical lesion, one feature of a confusable diagnosis).
    public var appearance: LesionAppearance
    public var style: LesionRenderParameters.ImagingStyle
    public var skinTone: RGBColour
    public var domainShift: Float
    /// Seeds the render parameters: equal for every image of one lesion.
    public var lesionSeed: UInt64
    /// Seeds the pixel noise of this image.
    public var imageSeed: UInt64
    /// The feature borrowed from a confusable diagnosis, if any ("vessels from melanoma").
    public var borrowedFeature: String?
    /// Labels of the other levels of a hierarchical vocabulary, level name to code.
    public var otherLevels: [String: String]

    /// The pixel-level parameters of this image.
    public func renderParameters() throws(ImageError) -> LesionRenderParameters {
        var parameters = try LesionRenderParameters(appearance: appearance, style: style, skinTone: skinTone, seed: lesionSeed)
        if domainShift > 0 { parameters.domainShift = .outOfDistribution(strength: domainShift) }
        return parameters
    }
}

/// One dataset of the plan with its cases.
public struct SyntheticDatasetPlan: Sendable, Equatable {
    public var spec: SyntheticDatasetSpec
    public var cases: [SyntheticCase]

    public func count(in split: CorpusSplit) -> Int { cases.lazy.filter { $0.split == split }.count }
}

/// The complete synthetic corpus for one seed and scale.
public struct CorpusPlan: Sendable, Equatable {
    public var seed: UInt64
    public var scale: CorpusScale
    public var datasets: [SyntheticDatasetPlan]

    public var caseCount: Int { datasets.reduce(0) { $0 + $1.cases.count } }
    public var allCases: [SyntheticCase] { datasets.flatMap(\.cases) }

    public func dataset(_ id: String) -> SyntheticDatasetPlan? { datasets.first { $0.spec.id == id } }

    /// A stable text that changes whenever anything drawn or stored would change; its
    /// SHA-256 tells whether a stored corpus is this one.
    public var fingerprintText: String {
        var lines = ["corpus v1 seed \(seed) scale \(scale.rawValue) side \(scale.imageSide) quality \(scale.jpegQuality)"]
        for dataset in datasets {
            lines.append("dataset \(dataset.spec.id) \(dataset.spec.role.rawValue) \(dataset.cases.count)")
            for item in dataset.cases {
                lines.append([item.id, item.labelCode, item.node ?? "-", item.drawnDiagnosis, item.split.rawValue,
                              item.groupKey ?? "-", String(item.lesionSeed), String(item.imageSeed),
                              item.style.storedName, String(item.domainShift), item.borrowedFeature ?? "-"].joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A problem with the knowledge that prevents planning a corpus.
public struct CorpusPlanError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
