import Foundation
import Testing
@testable import Domain

@Suite struct ValidatorTests {
    private func issues(nodes: [TaxonomyNode] = Fixture.nodes, edges: [DDxEdge] = Fixture.edges,
                        rules: [DiagnosticRule] = Fixture.rules, maps: [DatasetLabelMap] = Fixture.labelMaps) -> [KnowledgeIssue] {
        KnowledgeValidator.validate(taxonomy: TaxonomyFile(version: 1, nodes: nodes), ddx: DDxGraphFile(version: 1, edges: edges),
                                    rules: DiagnosticRulesFile(version: 1, rules: rules),
                                    labelMaps: LabelMapsFile(version: 1, datasets: maps))
    }

    private func replacing(_ id: NodeID, with node: TaxonomyNode) -> [TaxonomyNode] {
        Fixture.nodes.map { $0.id == id ? node : $0 }
    }

    @Test func fixtureIsValid() throws {
        #expect(issues().isEmpty)
        let knowledge = try Fixture.knowledge()
        #expect(knowledge.versions[KnowledgeValidator.taxonomyFileName] == 1)
        #expect(knowledge.labelMap(for: "toy")?.entry(for: "NV")?.node == "nevus")
    }

    @Test func unknownParentIsNamed() {
        let found = issues(nodes: replacing("ssm", with: TaxonomyNode(id: "ssm", name: "SSM", parent: "melanomaa", condition: .malignant)))
        #expect(found.contains { $0.kind == .unknownParent && $0.item == "ssm" && $0.message.contains("melanomaa") })
    }

    @Test func cycleIsFound() {
        var nodes = replacing("melanoma", with: TaxonomyNode(id: "melanoma", name: "Melanoma", parent: "ssm", condition: .malignant))
        nodes = nodes.map { $0.id == "ssm" ? TaxonomyNode(id: "ssm", name: "SSM", parent: "melanoma", condition: .malignant) : $0 }
        let found = issues(nodes: nodes)
        #expect(found.contains { $0.kind == .cycle })
        #expect(throws: KnowledgeValidationError.self) { try Taxonomy(nodes: nodes) }
        let selfParent = replacing("lentigo", with: TaxonomyNode(id: "lentigo", name: "Lentigo", parent: "lentigo", condition: .benign))
        #expect(issues(nodes: selfParent).contains { $0.kind == .cycle && $0.item == "lentigo" })
    }

    @Test func duplicateIdAndAliasAreFound() {
        let duplicateID = Fixture.nodes + [TaxonomyNode(id: "bcc", name: "Another BCC", parent: "root", condition: .malignant)]
        #expect(issues(nodes: duplicateID).contains { $0.kind == .duplicateID && $0.item == "bcc" })
        let duplicateAlias = replacing("scc", with: TaxonomyNode(id: "scc", name: "Squamous cell carcinoma", parent: "nonmel_malignant",
                                                                 condition: .malignant, aliases: ["Basal-cell carcinoma"]))
        #expect(issues(nodes: duplicateAlias).contains { $0.kind == .duplicateAlias && $0.item == "scc" && $0.message.contains("bcc") })
    }

    @Test func rootsAreCounted() {
        let twoRoots = Fixture.nodes + [TaxonomyNode(id: "other_root", name: "Other", parent: nil, condition: .benign)]
        #expect(issues(nodes: twoRoots).contains { $0.kind == .multipleRoots })
        #expect(KnowledgeValidator.taxonomyIssues([]).first?.kind == .emptyFile)
    }

    @Test func leafWithoutConditionOrRuleIsFound() {
        let noCondition = replacing("nodular", with: TaxonomyNode(id: "nodular", name: "Nodular melanoma", parent: "melanoma", condition: nil))
        #expect(issues(nodes: noCondition).contains { $0.kind == .leafWithoutCondition && $0.item == "nodular" })
        let withoutLeafRule = Fixture.rules.filter { $0.node != "bcc" }
        #expect(issues(rules: withoutLeafRule).contains { $0.kind == .missingRule && $0.item == "bcc" })
        let withoutFamilyRule = Fixture.rules.filter { $0.node != "melanoma" }
        #expect(issues(rules: withoutFamilyRule).contains { $0.kind == .missingRule && $0.item == "melanoma" })
        let stray = Fixture.rules + [DiagnosticRule(node: "ghost", text: "x", hallmarks: Fixture.appearance([.red]))]
        #expect(issues(rules: stray).contains { $0.kind == .ruleForUnknownNode && $0.item == "ghost" })
        let badRange = Fixture.rules.map { rule in
            guard rule.node == "ak" else { return rule }
            var copy = rule
            copy.hallmarks.asymmetry = ParameterRange(0.8, 0.2)
            return copy
        }
        #expect(issues(rules: badRange).contains { $0.kind == .invalidHallmarks && $0.item == "ak" })
    }

    @Test func ddxEdgeToUnknownNodeIsFound() {
        let found = issues(edges: Fixture.edges + [DDxEdge("bcc", "trichoepithelioma", note: "")])
        #expect(found.contains { $0.kind == .edgeToUnknownNode && $0.item == "bcc -- trichoepithelioma" })
        #expect(issues(edges: Fixture.edges + [DDxEdge("melanoma", "nevus", note: "again")]).contains { $0.kind == .duplicateEdge })
        #expect(issues(edges: [DDxEdge("ak", "ak", note: "")]).contains { $0.kind == .selfLoop })
    }

    @Test func labelMapToUnknownNodeIsFound() {
        var maps = Fixture.labelMaps
        maps[0].levels[0].entries.append(LabelMapEntry(code: "vasc", node: "vascular_lesion"))
        maps[0].levels[0].entries.append(LabelMapEntry(code: "unk", node: nil))
        maps[0].levels[0].entries.append(LabelMapEntry(code: "ak", node: "ak", condition: .malignant))
        let found = issues(maps: maps)
        #expect(found.contains { $0.kind == .labelToUnknownNode && $0.item == "TOY/dx/vasc" })
        #expect(found.contains { $0.kind == .unmappedLabel && $0.item == "TOY/dx/unk" })
        #expect(found.contains { $0.kind == .conflictingCondition && $0.item == "TOY/dx/ak" })
    }

    @Test func knowledgeBaseRefusesInvalidFilesAndNamesThem() {
        do {
            _ = try KnowledgeBase(taxonomy: Fixture.taxonomyFile, ddx: DDxGraphFile(version: 1, edges: [DDxEdge("a", "bcc", note: "")]),
                                  rules: Fixture.rulesFile, labelMaps: Fixture.labelMapsFile)
            Issue.record("invalid knowledge was accepted")
        } catch {
            #expect(error.description.contains("ddx_graph.json: a -- bcc"))
        }
        #expect(throws: KnowledgeDecodingError.self) {
            try KnowledgeBase.decode(taxonomy: Data("{\"version\": 1}".utf8), ddx: Data(), rules: Data(), labelMaps: Data())
        }
        do {
            _ = try KnowledgeBase.decode(taxonomy: Data("{\"version\": 1}".utf8), ddx: Data(), rules: Data(), labelMaps: Data())
        } catch let error as KnowledgeDecodingError {
            #expect(error.file == "taxonomy.json")
            #expect(error.description.contains("nodes"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}

