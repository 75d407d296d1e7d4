import DataSynth
import Domain
import Foundation

/// The catalogue datasets each format writes.
public struct IngestDataset: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The label-map dataset of the knowledge whose codes the files use.
    public var labelMap: String
    public var role: CorpusRole
    public var source: String
    public var imageStyle: String
    public var labelGranularity: String
    public var description: String

    /// Every dataset `skinr1 data ingest` may write, by id.
    public static let all: [String: IngestDataset] = {
        let list = [
            IngestDataset(id: "ham10000", name: "HAM10000", labelMap: "HAM10000", role: .train,
                             source: "Harvard Dataverse doi:10.7910/DVN/DBW86T (Kaggle skin-cancer-mnist-ham10000)",
                             imageStyle: "dermoscopy", labelGranularity: "7 classes (dx)",
                             description: "Dermoscopic images of pigmented lesions from Vienna and Queensland; several images per lesion."),
            IngestDataset(id: "isic2019", name: "ISIC 2019", labelMap: "ISIC2019", role: .ood,
                             source: "ISIC 2019 challenge training data (challenge.isic-archive.com)",
                             imageStyle: "dermoscopy", labelGranularity: "9 classes (one-hot ground truth)",
                             description: "Out-of-distribution evaluation only: it contains HAM10000 and BCN20000 images, so it never trains the policy."),
            IngestDataset(id: "bcn20000", name: "BCN20000", labelMap: "BCN20000", role: .train,
                             source: "Hospital Clinic Barcelona, BCN20000 release (bcn_20k_train.csv)",
                             imageStyle: "dermoscopy", labelGranularity: "8 classes (diagnosis)",
                             description: "Dermoscopic images from Hospital Clinic Barcelona, 2010-2016; several images per lesion."),
            IngestDataset(id: "pad-ufes-20", name: "PAD-UFES-20", labelMap: "PAD-UFES-20", role: .train,
                             source: "Mendeley Data doi:10.17632/zr7vgbcyr2.1",
                             imageStyle: "clinical_photo", labelGranularity: "6 classes (diagnostic)",
                             description: "Smartphone clinical photographs from Brazil with patient metadata; several lesions per patient."),
            IngestDataset(id: "derm7pt", name: "Derm7pt", labelMap: "Derm7pt", role: .train,
                             source: "Seven-Point Checklist dataset, derm.cs.sfu.ca (release_v0)",
                             imageStyle: "dermoscopy", labelGranularity: "20 diagnoses",
                             description: "One dermoscopic image per case (the clinical image is recorded in the case metadata)."),
            IngestDataset(id: "derm12345", name: "DERM12345", labelMap: "DERM12345", role: .train,
                             source: "Harvard Dataverse doi:10.7910/DVN/DAXZ7P",
                             imageStyle: "dermoscopy", labelGranularity: "5 super classes / 15 main classes / 40 subclasses",
                             description: "Dermoscopic images from Turkiye with a three-level label tree; several images per patient."),
            IngestDataset(id: "dermnet", name: "DermNet", labelMap: "DermNet", role: .train,
                             source: "DermNet image library (Kaggle dermnet copy)",
                             imageStyle: "clinical_photo", labelGranularity: "23 categories; file-name diagnoses",
                             description: "Clinical photographs in 23 category folders; mixed categories resolved by file-name diagnosis."),
        ] + OmniMedVQASubset.all.map(\.dataset)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
    }()

    public static func forFormat(_ format: IngestFormat) -> [IngestDataset] {
        switch format {
        case .ham10000: [all["ham10000"]!]
        case .isic2019: [all["isic2019"]!]
        case .bcn20000: [all["bcn20000"]!]
        case .padUfes20: [all["pad-ufes-20"]!]
        case .derm7pt: [all["derm7pt"]!]
        case .derm12345: [all["derm12345"]!]
        case .dermnet: [all["dermnet"]!]
        case .omnimedvqa: OmniMedVQASubset.all.map(\.dataset)
        }
    }
}

/// The dermoscopy question files of OmniMedVQA used for out-of-distribution tests.
public struct OmniMedVQASubset: Sendable {
    public var questionFile: String
    public var dataset: IngestDataset

    public static let all: [OmniMedVQASubset] = [
        subset("ISBI2016.json", id: "isbi2016", name: "ISBI 2016", labelMap: "ISBI2016", style: "dermoscopy"),
        subset("ISIC2018.json", id: "isic2018", name: "ISIC 2018", labelMap: "ISIC2018", style: "dermoscopy"),
        subset("ISIC2019.json", id: "isic2019", name: "ISIC 2019", labelMap: "ISIC2019", style: "dermoscopy"),
        subset("ISIC2020.json", id: "isic2020", name: "ISIC 2020", labelMap: "ISIC2020", style: "dermoscopy"),
        subset("Monkeypox Skin Image 2022.json", id: "monkeypox2022", name: "Monkeypox Skin Image 2022",
               labelMap: "Monkeypox2022", style: "clinical_photo"),
    ]

    private static func subset(_ file: String, id: String, name: String, labelMap: String, style: String) -> OmniMedVQASubset {
        OmniMedVQASubset(questionFile: file, dataset: IngestDataset(
            id: "omnimedvqa-" + id, name: "OmniMedVQA \(name)", labelMap: labelMap, role: .ood,
            source: "OmniMedVQA (foreverbeliever/OmniMedVQA), QA_information/*/\(file)",
            imageStyle: style, labelGranularity: "answer text of Disease Diagnosis questions",
            description: "Out-of-distribution evaluation: \"Disease Diagnosis\" questions only, with their options in the case metadata."))
    }
}
