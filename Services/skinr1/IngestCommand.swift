import ArgumentParser
import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Store

extension IngestFormat: ExpressibleByArgument {}

/// `skinr1 data ingest FORMAT ROOT`: a real dataset, as distributed, into the catalogue.
struct DataIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Import a dataset as distributed (metadata files and images) into the catalogue.",
        discussion: """
            FORMAT is one of: \(IngestFormat.allCases.map(\.rawValue).joined(separator: ", ")). \
            Labels are mapped through the knowledge's label maps; images are stored content-addressed \
            (sha256 of the file) after a full decode (JPEG) or chunk check (PNG). Official splits are \
            kept (with a validation part carved out of an official train split at 6:2), otherwise \
            splits are drawn 6:2:2 with the seed, by lesion or patient. ISIC 2019 and the OmniMedVQA \
            dermoscopy subsets are out-of-distribution test sets. A missing image, unknown label, \
            malformed row or unreadable image aborts the import with the store unchanged, unless \
            --skip-bad. Re-importing the same tree with the same seed changes nothing. Needs the \
            knowledge seeded (skinr1 seed).
            """)

    @Argument(help: "Dataset layout.")
    var format: IngestFormat

    @Argument(help: "Root folder of the dataset as unpacked.", completion: .directory)
    var root: String

    @Flag(name: .customLong("skip-bad"), help: "Import the good rows, report and record the bad ones.")
    var skipBad = false

    @Option(help: "Seed of the split draw.")
    var seed: UInt64 = 0

    @OptionGroup var database: DatabaseURLOptions

    func run() async throws {
        let logger = Logger(label: "skinr1.data.ingest")
        let start = DispatchTime.now()
        let knowledge: KnowledgeBase
        do {
            knowledge = try KnowledgeBase.load()
        } catch {
            throw ValidationError("the knowledge is invalid:\n\(error)")
        }
        let rootURL = URL(fileURLWithPath: root).standardizedFileURL
        let tree = try DirectoryFileTree(root: rootURL)
        let configuration = try database.configuration()
        let connection = try await PostgresConnection.connect(configuration, logger: logger)
        let report: IngestReport
        do {
            try await Migrator(logger: logger).migrate(on: connection)
            report = try await DatasetIngestor(knowledge: knowledge, logger: logger)
                .run(format, tree: tree, root: rootURL.path, options: IngestOptions(skipBad: skipBad, seed: seed), on: connection)
            await connection.close()
        } catch let aborted as IngestAborted {
            await connection.close()
            var standardError = FileHandleOutputStream.standardError
            for error in aborted.errors { print("bad row: \(error)", to: &standardError) }
            throw aborted
        } catch {
            await connection.close()
            throw error
        }
        print("imported \(format.rawValue) from \(rootURL.path) into \(configuration)")
        for dataset in report.datasets {
            let splits = CorpusSplit.allCases.map { "\($0.rawValue) \(dataset.splits[$0] ?? 0)" }.joined(separator: ", ")
            print("  \(dataset.datasetID): \(dataset.imported) cases (new \(dataset.inserted), changed \(dataset.updated), "
                  + "unchanged \(dataset.unchanged)), \(dataset.newBlobs) new images; \(splits); import #\(dataset.importID)")
            for row in dataset.skipped { print("    skipped \(row)") }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print(String(format: "elapsed %.1f s (reading and checking images %.1f s, writing %.1f s)",
                     elapsed, report.planSeconds, report.writeSeconds))
    }
}

/// Standard error as a `TextOutputStream`, for `print(_:to:)`.
private struct FileHandleOutputStream: TextOutputStream {
    static var standardError: FileHandleOutputStream { FileHandleOutputStream() }
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
