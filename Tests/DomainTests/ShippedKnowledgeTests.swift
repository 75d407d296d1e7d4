import Testing
@testable import Domain
import Knowledge

@Suite struct ShippedKnowledgeTests {
    let knowledge: KnowledgeBase

    init() throws {
        knowledge = try KnowledgeBase.load()
    }

    @Test func loadsValidatesAndIsLargeEnough() {
        let t = knowledge.taxonomy
        #expect(t.count >= 60)
        #expect(knowledge.graph.edges.count >= 50)
        #expect(knowledge.versions.count == 4)
        #expect(knowledge.versions.values.allSatisfy { $0 >= 1 })
        let depths = t.nonRootIDs.compactMap { t.depth(of: $0) }
        #expect(depths.max() == 4, "3-4 levels under the root")
        #expect(t.leaves.allSatisfy { (3...4).contains(t.depth(of: $0)!) || t.parent(of: t.parent(of: $0)!) == t.root })
    }

    @Test func everyLeafAndFamilyHasARuleInTheMethodsForm() {
        let t = knowledge.taxonomy
        for id in t.leaves + t.families {
            let rule = knowledge.rule(for: id)
            #expect(rule != nil, "no rule for \(id)")
            guard let rule else { continue }
            #expect(rule.text.hasPrefix("The presence of ") && rule.text.contains(" indicates "), "\(id): \(rule.text)")
            #expect(rule.hallmarks.problems.isEmpty, "\(id): \(rule.hallmarks.problems)")
        }
    }

    @Test func familiesTakeTheConditionMostChildrenShare() {
        let t = knowledge.taxonomy
        for id in t.families + [t.root] {
            let childConditions = t.children(of: id).compactMap { t.condition(of: $0) }
            #expect(t.condition(of: id) == Taxonomy.majority(childConditions), "\(id)")
        }
    }

    /// Confusable pairs must differ in at least one hallmark (or the synthesiser could not
    /// draw them apart), and most pairs share most hallmarks (at least 7 of the 12).
    @Test func confusablePairsShareMostHallmarksAndDifferInSome() {
        var histogram: [Int: Int] = [:]
        for edge in knowledge.graph.edges {
            let a = knowledge.rules[edge.a]!.hallmarks, b = knowledge.rules[edge.b]!.hallmarks
            let differing = a.differingKinds(from: b)
            histogram[differing.count, default: 0] += 1
            #expect(!differing.isEmpty, "\(edge.a) and \(edge.b) cannot be told apart")
            #expect(differing.count < HallmarkKind.allCases.count - 2, "\(edge.a) -- \(edge.b) differ in \(differing.map(\.rawValue))")
        }
        let sharingMost = histogram.filter { $0.key <= 5 }.map(\.value).reduce(0, +)
        #expect(Double(sharingMost) >= 0.75 * Double(knowledge.graph.edges.count), "differing-hallmark counts: \(histogram)")
        let closest = histogram.filter { $0.key <= 2 }.map(\.value).reduce(0, +)
        #expect(closest >= 15, "pairs differing in one or two hallmarks: \(closest)")
    }

    @Test func everyLeafLooksDifferentFromEveryOtherLeaf() {
        let leaves = knowledge.taxonomy.leaves
        for (i, a) in leaves.enumerated() {
            for b in leaves[(i + 1)...] {
                let differing = knowledge.rules[a]!.hallmarks.differingKinds(from: knowledge.rules[b]!.hallmarks)
                #expect(!differing.isEmpty, "\(a) and \(b) have the same appearance")
            }
        }
    }

    @Test(arguments: [
        ("HAM10000", ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]),
        ("BCN20000", ["NV", "MEL", "BCC", "BKL", "AK", "SCC", "DF", "VASC"]),
        ("PAD-UFES-20", ["ACK", "BCC", "MEL", "NEV", "SCC", "SEK"]),
        ("Derm7pt", ["basal cell carcinoma", "blue nevus", "clark nevus", "combined nevus", "congenital nevus", "dermal nevus",
                     "dermatofibroma", "lentigo", "melanoma", "melanoma (in situ)", "melanoma (less than 0.76 mm)",
                     "melanoma (0.76 to 1.5 mm)", "melanoma (more than 1.5 mm)", "melanoma metastasis", "melanosis",
                     "miscellaneous", "recurrent nevus", "reed or spitz nevus", "seborrheic keratosis", "vascular lesion"]),
        ("DERM12345", ["acb", "ccb", "mcb", "cb", "bdb", "db", "ajb", "cjb", "jb", "acd", "ccd", "cd", "ajd", "srjd", "jd", "rd",
                       "isl", "ls", "sl", "anm", "alm", "lm", "lmm", "mel", "sk", "lk", "df", "angk", "ha", "la", "pg", "sa",
                       "ak", "bcc", "bd", "ch", "mpd", "scc", "dfsp", "ks"]),
        ("DermNet", ["Acne and Rosacea Photos", "Melanoma Skin Cancer Nevi and Moles", "Vascular Tumors",
                     "Seborrheic Keratoses and other Benign Tumors", "Warts Molluscum and other Viral Infections"]),
        ("ISBI2016", ["benign", "malignant"]),
        ("ISIC2018", ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]),
        ("ISIC2019", ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]),
        ("ISIC2020", ["melanoma", "nevus", "seborrheic keratosis", "lentigo NOS", "lichenoid keratosis", "solar lentigo",
                      "cafe-au-lait macule", "atypical melanocytic proliferation", "unknown"]),
        ("Monkeypox2022", ["Monkeypox", "Chickenpox", "Measles", "Normal"]),
    ])
    func everyDatasetLabelIsMapped(dataset: String, codes: [String]) throws {
        let map = try #require(knowledge.labelMap(for: dataset))
        for code in codes {
            let entry = try #require(map.entry(for: code), "\(dataset) lacks \(code)")
            #expect(entry.node != nil || entry.condition != nil || !(entry.note ?? "").isEmpty)
            if let node = entry.node { #expect(knowledge.taxonomy.contains(node)) }
        }
    }

    @Test func datasetRolesAndLevels() throws {
        let training = Set(knowledge.labelMaps.filter { $0.role == .training }.map(\.dataset))
        let ood = Set(knowledge.labelMaps.filter { $0.role == .outOfDistribution }.map(\.dataset))
        #expect(training == ["HAM10000", "BCN20000", "PAD-UFES-20", "Derm7pt", "DERM12345", "DermNet"])
        #expect(ood == ["ISBI2016", "ISIC2018", "ISIC2019", "ISIC2020", "Monkeypox2022"])
        let derm = try #require(knowledge.labelMap(for: "DERM12345"))
        #expect(derm.levels.map(\.name) == ["super_class", "main_class", "label"])
        #expect(derm.levels.map(\.entries.count) == [5, 15, 40])
        #expect(derm.entry(for: "banal compound", level: "main_class")?.node == "compound_nevus")
        #expect(knowledge.labelMap(for: "dermnet")?.entry(for: "acne and rosacea photos")?.node == "acne_rosacea")
        let dermnet = try #require(knowledge.labelMap(for: "DermNet"))
        #expect(dermnet.entry(containedIn: "nodular-basal-cell-carcinoma-face", level: "diagnosis")?.node == "nodular_bcc")
        #expect(dermnet.entry(containedIn: "basal cell carcinoma ear", level: "diagnosis")?.node == "basal_cell_carcinoma")
        #expect(dermnet.entry(containedIn: "Bowens-disease", level: "diagnosis")?.node == "bowen_disease")
        #expect(dermnet.entry(containedIn: "acne vulgaris", level: "diagnosis") == nil)
        #expect(dermnet.entry(containedIn: "melanoma", level: "no_such_level") == nil)
    }

    @Test func aliasesFindDatasetSpellings() {
        let t = knowledge.taxonomy
        #expect(t.lookup("Bowen's disease")?.id == "bowen_disease")
        #expect(t.lookup("Squamous cell carcinoma")?.id == "squamous_cell_carcinoma")
        #expect(t.lookup("monkeypox")?.id == "mpox")
        #expect(t.lookup("seborrheic_keratisos")?.id == "seborrheic_keratosis")
        #expect(t.path(to: "miescher_nevus") == ["melanocytic_benign", "melanocytic_nevus", "compound_nevus", "miescher_nevus"])
    }

    @Test func shippedKnowledgeBuildsQuestionsAndTrajectoriesForEveryLeaf() async throws {
        let t = knowledge.taxonomy
        let builder = QuestionBuilder(taxonomy: t, graph: knowledge.graph)
        let cases = t.leaves.enumerated().map { i, leaf in
            QuestionCase(caseID: "c\(i)", dataset: i % 3 == 0 ? "A" : "B", label: leaf, imageSHA: "img\(i)")
        }
        let terms = DatasetPathTerms(cases: cases, taxonomy: t)
        let textbook = cases.map { TextbookCase(caseID: $0.caseID, imageSHA: $0.imageSHA, label: $0.label) }
        let synthesizer = TrajectorySynthesizer(knowledge: knowledge)
        for item in cases {
            let rl = try builder.rlPrompt(for: item, pathTerms: terms, seed: 1)
            #expect(rl.options.count == 4)
            let ddx = try builder.ddxItem(for: item, caseLabels: Set(t.leaves), seed: 1)
            #expect(ddx.options.count == 4)
            for type in TrajectoryType.allCases {
                let trajectory = try await synthesizer.synthesize(type, primary: TextbookCase(caseID: item.caseID, imageSHA: item.imageSHA, label: item.label),
                                                                  cases: textbook, seed: 1)
                #expect(textbook.first { $0.imageSHA == trajectory.imageSHA }?.label == trajectory.finalDiagnosis)
            }
        }
    }
}
