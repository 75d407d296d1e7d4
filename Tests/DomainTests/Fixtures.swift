@testable import Domain

/// A small hand-made knowledge set for unit tests, independent of the shipped files.
enum Fixture {
    static func appearance(_ palette: [PaletteColour], vessels: VesselType = .none,
                           surface: LesionSurface = .flat) -> LesionAppearance {
        LesionAppearance(palette: palette, asymmetry: ParameterRange(0, 0.2), borderIrregularity: ParameterRange(0, 0.2),
                         pigmentNetwork: .regular, dotsGlobules: .absent, streaks: .absent, blueWhiteVeil: false,
                         vessels: vessels, scaleCrust: .none, sizeMillimetres: ParameterRange(2, 6),
                         surface: surface, multiplicity: .solitary)
    }

    static let nodes: [TaxonomyNode] = [
        TaxonomyNode(id: "root", name: "Skin condition", parent: nil, condition: .benign),
        TaxonomyNode(id: "mel_benign", name: "Benign melanocytic lesion", parent: "root", condition: .benign),
        TaxonomyNode(id: "nevus", name: "Melanocytic nevus", parent: "mel_benign", condition: .benign, aliases: ["mole", "NV"]),
        TaxonomyNode(id: "blue_nevus", name: "Blue nevus", parent: "nevus", condition: .benign),
        TaxonomyNode(id: "dysplastic", name: "Dysplastic nevus", parent: "nevus", condition: .benign, aliases: ["Clark nevus"]),
        TaxonomyNode(id: "lentigo", name: "Lentigo", parent: "mel_benign", condition: .benign),
        TaxonomyNode(id: "mel_malignant", name: "Malignant melanocytic lesion", parent: "root", condition: .malignant),
        TaxonomyNode(id: "melanoma", name: "Melanoma", parent: "mel_malignant", condition: .malignant),
        TaxonomyNode(id: "ssm", name: "Superficial spreading melanoma", parent: "melanoma", condition: .malignant),
        TaxonomyNode(id: "nodular", name: "Nodular melanoma", parent: "melanoma", condition: .malignant),
        TaxonomyNode(id: "precancer", name: "Precancerous keratinocytic lesion", parent: "root", condition: nil),
        TaxonomyNode(id: "ak", name: "Actinic keratosis", parent: "precancer", condition: .precancerousInSitu),
        TaxonomyNode(id: "bowen", name: "Bowen disease", parent: "precancer", condition: .precancerousInSitu, aliases: ["Bowen's disease"]),
        TaxonomyNode(id: "nonmel_malignant", name: "Malignant non-melanocytic lesion", parent: "root", condition: .malignant),
        TaxonomyNode(id: "bcc", name: "Basal cell carcinoma", parent: "nonmel_malignant", condition: .malignant),
        TaxonomyNode(id: "scc", name: "Squamous cell carcinoma", parent: "nonmel_malignant", condition: .malignant),
    ]

    static let edges: [DDxEdge] = [
        DDxEdge("nevus", "melanoma", note: "melanoma breaks symmetry"),
        DDxEdge("dysplastic", "ssm", note: "streaks at one edge favour melanoma"),
        DDxEdge("ak", "bowen", note: "glomerular vessels favour Bowen disease"),
        DDxEdge("bowen", "scc", note: "induration means invasion"),
        DDxEdge("bcc", "scc", note: "arborizing vessels favour basal cell carcinoma"),
    ]

    static let palettes: [NodeID: [PaletteColour]] = [
        "mel_benign": [.lightBrown], "nevus": [.lightBrown, .darkBrown], "blue_nevus": [.blueGrey],
        "dysplastic": [.lightBrown, .darkBrown, .pink], "lentigo": [.tan], "mel_malignant": [.black, .darkBrown, .blueGrey],
        "melanoma": [.black, .darkBrown, .blueGrey], "ssm": [.black, .darkBrown, .pink], "nodular": [.black, .red],
        "precancer": [.pink, .red], "ak": [.pink, .white], "bowen": [.red, .pink], "nonmel_malignant": [.pink, .white],
        "bcc": [.pink, .white, .blueGrey], "scc": [.yellow, .white],
    ]

    static let rules: [DiagnosticRule] = nodes.filter { $0.parent != nil }.map { node in
        DiagnosticRule(node: node.id, text: "The presence of the hallmarks of \(node.name.lowercased()) indicates \(node.name.lowercased()).",
                       clinicalClue: node.id == "ak" ? "sun-damaged skin" : nil,
                       hallmarks: appearance(palettes[node.id]!, vessels: node.id == "bowen" ? .glomerular : .none))
    }

    static let labelMaps: [DatasetLabelMap] = [
        DatasetLabelMap(dataset: "TOY", role: .training, levels: [
            LabelLevel(name: "dx", entries: [
                LabelMapEntry(code: "nv", node: "nevus"), LabelMapEntry(code: "mel", node: "melanoma"),
                LabelMapEntry(code: "benign", node: nil, condition: .benign, note: "condition only"),
            ]),
        ]),
    ]

    static var taxonomyFile: TaxonomyFile { TaxonomyFile(version: 1, nodes: nodes) }
    static var ddxFile: DDxGraphFile { DDxGraphFile(version: 1, edges: edges) }
    static var rulesFile: DiagnosticRulesFile { DiagnosticRulesFile(version: 1, rules: rules) }
    static var labelMapsFile: LabelMapsFile { LabelMapsFile(version: 1, datasets: labelMaps) }

    static func taxonomy() throws -> Taxonomy { try Taxonomy(nodes: nodes) }
    static func graph() -> DDxGraph { DDxGraph(edges: edges) }
    static func knowledge() throws -> KnowledgeBase {
        try KnowledgeBase(taxonomy: taxonomyFile, ddx: ddxFile, rules: rulesFile, labelMaps: labelMapsFile)
    }

    static let labels: [NodeID] = ["nevus", "blue_nevus", "dysplastic", "lentigo", "melanoma", "ssm", "nodular", "ak", "bowen", "bcc", "scc"]

    /// Cases of two datasets spread over the labels.
    static func cases() -> [QuestionCase] {
        labels.enumerated().flatMap { index, label in
            (0..<3).map { n in
                QuestionCase(caseID: "case-\(label)-\(n)", dataset: index % 2 == 0 ? "TOY" : "OTHER",
                             label: label, imageSHA: "sha-\(label)-\(n)")
            }
        }
    }
}
