import ArgumentParser
import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Store

/// Data in the catalogue: the synthetic corpus, imported datasets.
struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Fill the data catalogue: synthetic corpus, dataset imports.",
        subcommands: [
            DataSynthCommand.self,
            DataIngestCommand.self,
        ])
}

extension CorpusScale: ExpressibleByArgument {}

struct DataSynthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Draw the synthetic corpus (textbook exemplars, six training sets, out-of-distribution sets) into the store.",
        discussion: """
            Deterministic for a seed and scale. Dataset ids do not depend on the seed: running \
            again with the same seed and scale changes nothing; another seed or scale replaces the \
            synthetic datasets' cases in one transaction. Needs the knowledge seeded (skinr1 seed).
            """)

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1

    @Option(help: "small (under a thousand cases, 48 px), default (a few thousand, 64 px) or large (96 px).")
    var scale: CorpusScale = .default

    @OptionGroup var database: DatabaseURLOptions

    func run() async throws {
        let logger = Logger(label: "skinr1.data.synth")
        let start = DispatchTime.now()
        let knowledge: KnowledgeBase
        do {
            knowledge = try KnowledgeBase.load()
        } catch {
            throw ValidationError("the knowledge is invalid:\n\(error)")
        }
        let plan = try CorpusPlanner.plan(knowledge: knowledge, seed: seed, scale: scale)
        let configuration = try database.configuration()
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        let report: CorpusWriteReport
        do {
            try await Migrator(logger: logger).migrate(on: connection)
            report = try await SyntheticCorpusWriter(logger: logger).write(plan, on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        if report.unchanged {
            print("synthetic corpus unchanged (seed \(seed), scale \(scale.rawValue), fingerprint \(report.fingerprint.prefix(12))) at \(configuration)")
        } else {
            print("synthetic corpus written (seed \(seed), scale \(scale.rawValue), \(scale.imageSide) px JPEG) at \(configuration)")
            print("  cases \(report.writtenCases), replaced \(report.replacedCases), new images \(report.newBlobs)")
            print(String(format: "  render %.1f s, store %.1f s", report.renderSeconds, report.writeSeconds))
        }
        print(Self.summary(plan))
        print(String(format: "elapsed %.1f s", elapsed))
    }

    static func summary(_ plan: CorpusPlan) -> String {
        func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        var lines = [cell("dataset", 22) + cell("role", 10) + cell("labels", 8) + cell("train", 7) + cell("val", 7)
                     + cell("test", 7) + "total"]
        for dataset in plan.datasets {
            let labels = Set(dataset.cases.map(\.labelCode)).count
            lines.append(cell(dataset.spec.id, 22) + cell(dataset.spec.role.rawValue, 10) + cell(String(labels), 8)
                         + cell(String(dataset.count(in: .train)), 7) + cell(String(dataset.count(in: .val)), 7)
                         + cell(String(dataset.count(in: .test)), 7) + String(dataset.cases.count))
        }
        lines.append(cell("all", 40) + String(plan.caseCount))
        return lines.joined(separator: "\n")
    }
}
