import DataSynth
import Domain
import Knowledge
import Testing

@Suite("Synthetic corpus plan")
struct CorpusPlanTests {
    static let knowledge: KnowledgeBase = try! KnowledgeBase.load()

    @Test func planIsDeterministicForASeed() throws {
        let first = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 42, scale: .small)
        let second = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 42, scale: .small)
        #expect(first == second)
        #expect(first.fingerprintText == second.fingerprintText)
        let other = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 43, scale: .small)
        #expect(other.fingerprintText != first.fingerprintText)
        // Dataset ids never depend on the seed.
        #expect(other.datasets.map(\.spec.id) == first.datasets.map(\.spec.id))
    }

    @Test func renderingIsDeterministic() throws {
        let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 7, scale: .small)
        let sample = Array(plan.allCases.prefix(24))
        let a = try CorpusRendering.renderAll(sample, side: 48, quality: 88)
        let b = try CorpusRendering.renderAll(sample, side: 48, quality: 88)
        #expect(a == b)
        #expect(a.map(\.caseID) == sample.map(\.id))
        #expect(Set(a.map(\.sha256)).count > 20)
    }

    @Test func datasetsFollowTheDesign() throws {
        let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 1, scale: .small)
        #expect(plan.datasets.filter { $0.spec.role == .textbook }.count == 1)
        #expect(plan.datasets.filter { $0.spec.role == .train }.count == 6)
        #expect(plan.datasets.filter { $0.spec.role == .ood }.count >= 1)
        #expect((600...1000).contains(plan.caseCount), "small corpus has \(plan.caseCount) cases")
        let taxonomy = Self.knowledge.taxonomy
        for dataset in plan.datasets {
            #expect(!dataset.cases.isEmpty, "\(dataset.spec.id) is empty")
            if let mapName = dataset.spec.labelMap, let levelName = dataset.spec.labelLevel {
                let map = try #require(Self.knowledge.labelMap(for: mapName))
                let codes = Set(try #require(map.levels.first { $0.name == levelName }).entries.map(\.code))
                for item in dataset.cases {
                    #expect(codes.contains(item.labelCode), "\(item.id): \(item.labelCode) is not a \(mapName) code")
                }
            }
            for item in dataset.cases {
                #expect(taxonomy.isLeaf(item.drawnDiagnosis))
                if let node = item.node {
                    #expect(taxonomy.condition(of: node) == item.condition, "\(item.id)")
                    #expect(node == item.drawnDiagnosis || taxonomy.isAncestor(node, of: item.drawnDiagnosis), "\(item.id)")
                }
            }
        }
        // Granularities differ: the DERM12345-like set carries its coarser levels.
        let derm = try #require(plan.dataset("synth-derm12345"))
        #expect(derm.cases.allSatisfy { $0.otherLevels["super_class"] != nil })
        #expect(Set(try #require(plan.dataset("synth-ham")).cases.map(\.labelCode)).count == 7)
        #expect(Set(try #require(plan.dataset("synth-bcn")).cases.map(\.labelCode)).count == 8)
        #expect(Set(try #require(plan.dataset("synth-pad")).cases.map(\.labelCode)).count == 6)
    }

    @Test func textbookCoversEveryDrawnDiagnosisWithGroundedRationales() throws {
        let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 1, scale: .small)
        let textbook = try #require(plan.dataset(SyntheticCorpusDesign.textbookID))
        let drawn = Set(plan.datasets.filter { $0.spec.role != .textbook }.flatMap { $0.cases.map(\.drawnDiagnosis) })
        let exemplars = Set(textbook.cases.compactMap(\.node))
        #expect(drawn.isSubset(of: exemplars))
        for item in textbook.cases {
            let rationale = try #require(item.rationale)
            let rule = try #require(Self.knowledge.rule(for: item.drawnDiagnosis))
            #expect(rationale.contains(rule.text))
            // Grounded: every finding of the concrete appearance drawn is named.
            for finding in AppearanceSampler.findings(item.appearance) {
                #expect(rationale.contains(finding), "\(item.id) rationale lacks '\(finding)'")
            }
            #expect(item.appearance.asymmetry.lower == item.appearance.asymmetry.upper)
            #expect(item.borrowedFeature == nil)
            // Sizes read as a person writes them: "about 5.8 mm across", never 5.800000000000001.
            let size = try #require(AppearanceSampler.findings(item.appearance).first { $0.hasSuffix(" mm across") })
            let number = size.dropFirst("about ".count).dropLast(" mm across".count)
            #expect(Double(number) != nil && (number.split(separator: ".").dropFirst().first?.count ?? 0) <= 1, "\(item.id): '\(size)'")
        }
    }

    @Test func splitsAreSixTwoTwoAndKeepLesionsTogether() throws {
        let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 5, scale: .default)
        var totals: [CorpusSplit: Int] = [:]
        for dataset in plan.datasets where dataset.spec.role == .train {
            var groups: [String: CorpusSplit] = [:]
            for item in dataset.cases {
                totals[item.split, default: 0] += 1
                if let group = item.groupKey {
                    if let previous = groups[group] { #expect(previous == item.split, "lesion \(group) spans splits") }
                    groups[group] = item.split
                }
            }
            let n = Double(dataset.cases.count)
            #expect(abs(Double(dataset.count(in: .train)) / n - 0.6) < 0.08, "\(dataset.spec.id) train share")
            #expect(abs(Double(dataset.count(in: .val)) / n - 0.2) < 0.06, "\(dataset.spec.id) val share")
            #expect(abs(Double(dataset.count(in: .test)) / n - 0.2) < 0.06, "\(dataset.spec.id) test share")
        }
        let all = Double(totals.values.reduce(0, +))
        #expect(abs(Double(totals[.train] ?? 0) / all - 0.6) < 0.03)
        for dataset in plan.datasets where dataset.spec.role == .ood {
            #expect(dataset.cases.allSatisfy { $0.split == .test && $0.domainShift > 0 })
        }
        let grouped = try #require(plan.dataset("synth-ham")).cases
        #expect(Set(grouped.compactMap(\.groupKey)).count < grouped.count, "some lesions have several images")
    }

    @Test func confusableDiagnosesShareMostHallmarks() throws {
        // Accuracy must not be trivial: DDx neighbours drawn in the corpus differ in few features.
        let plan = try CorpusPlanner.plan(knowledge: Self.knowledge, seed: 1, scale: .small)
        let drawn = Set(plan.allCases.map(\.drawnDiagnosis))
        var close = 0
        var pairs = 0
        for edge in Self.knowledge.graph.edges where drawn.contains(edge.a) && drawn.contains(edge.b) {
            let a = try #require(Self.knowledge.rule(for: edge.a)).hallmarks
            let b = try #require(Self.knowledge.rule(for: edge.b)).hallmarks
            pairs += 1
            if a.differingKinds(from: b).count <= HallmarkKind.allCases.count / 2 { close += 1 }
        }
        #expect(pairs > 10)
        #expect(Double(close) / Double(pairs) > 0.8)
        #expect(plan.allCases.contains { $0.borrowedFeature != nil }, "some lesions are atypical")
    }
}
