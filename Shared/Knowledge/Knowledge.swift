import Domain
import Foundation

/// Loads the versioned knowledge files shipped with the product (`data/`).
public enum KnowledgeModule {
    public static let name = "Knowledge"

    /// The four files, in the order they are read.
    public static let fileNames = [
        KnowledgeValidator.taxonomyFileName, KnowledgeValidator.ddxFileName,
        KnowledgeValidator.rulesFileName, KnowledgeValidator.labelMapsFileName,
    ]
}

/// A shipped knowledge file that is missing or unreadable.
public struct KnowledgeFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public var description: String { "\(file): \(reason)" }
}

extension KnowledgeBase {
    /// Reads the shipped taxonomy, DDx graph, diagnostic rules and label maps from the
    /// module bundle, decodes them and validates them against each other.
    /// Errors name the file (`KnowledgeFileError`, `KnowledgeDecodingError`) or list every
    /// invalid item (`KnowledgeValidationError`).
    public static func load() throws -> KnowledgeBase {
        try decode(taxonomy: shippedFile(KnowledgeValidator.taxonomyFileName),
                   ddx: shippedFile(KnowledgeValidator.ddxFileName),
                   rules: shippedFile(KnowledgeValidator.rulesFileName),
                   labelMaps: shippedFile(KnowledgeValidator.labelMapsFileName))
    }

    /// The raw bytes of one shipped knowledge file.
    public static func shippedFile(_ name: String) throws -> Data {
        let stem = (name as NSString).deletingPathExtension
        let ext = (name as NSString).pathExtension
        guard let url = Bundle.module.url(forResource: stem, withExtension: ext, subdirectory: "data") else {
            throw KnowledgeFileError(file: name, reason: "not found in the knowledge bundle")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw KnowledgeFileError(file: name, reason: "cannot be read: \(error.localizedDescription)")
        }
    }
}
