import Foundation
import NeuralNet
import Store

/// Policy weights as content-addressed blobs: the base (with its tokenizer in the metadata)
/// and LoRA adapters are separate, so weight sync ships only the adapter.
public struct PolicyArtifacts: Sendable {
    public static let baseMediaType = "application/x-skinr1-policy-base"
    public static let adapterMediaType = "application/x-skinr1-policy-lora"
    public static let optimizerMediaType = "application/x-skinr1-adamw"

    private let blobs: BlobStore

    public init(blobs: BlobStore) { self.blobs = blobs }

    /// Stores the base model (any attached adapter is not included) and returns its sha256.
    public func storeBase(_ model: PolicyModel, tokenizer: BPETokenizer) async throws -> String {
        let data = try PolicyCheckpoint.encodeBase(model, tokenizer: tokenizer)
        return try await blobs.put([UInt8](data), mediaType: Self.baseMediaType)
    }

    public func loadBase(_ sha256: String) async throws -> (model: PolicyModel, tokenizer: BPETokenizer) {
        let bytes = try await blobs.get(sha256)
        let loaded = try PolicyCheckpoint.decodeBase(Data(bytes), source: "base \(sha256.prefix(12))")
        guard let tokenizer = loaded.tokenizer else {
            throw NeuralNetError("base \(sha256.prefix(12)) carries no tokenizer")
        }
        return (loaded.model, tokenizer)
    }

    public func storeAdapter(_ adapter: LoRAAdapter) async throws -> String {
        let data = try PolicyCheckpoint.encodeAdapter(adapter)
        return try await blobs.put([UInt8](data), mediaType: Self.adapterMediaType)
    }

    /// Stores an adapter already encoded (`PolicyCheckpoint.encodeAdapter`) through
    /// `queryable`, for example inside the transaction that records its version.
    public static func storeAdapter(encoded bytes: [UInt8], on queryable: some PostgresQueryable) async throws -> String {
        try await BlobStore.put(bytes, mediaType: adapterMediaType, on: queryable)
    }

    public func loadAdapter(_ sha256: String) async throws -> LoRAAdapter {
        let bytes = try await blobs.get(sha256)
        return try PolicyCheckpoint.decodeAdapter(Data(bytes), source: "adapter \(sha256.prefix(12))").adapter
    }

    public func storeOptimizer(_ optimizer: AdamW) async throws -> String {
        let data = try PolicyCheckpoint.encodeOptimizer(optimizer)
        return try await blobs.put([UInt8](data), mediaType: Self.optimizerMediaType)
    }

    public func restoreOptimizer(_ optimizer: AdamW, from sha256: String) async throws {
        let bytes = try await blobs.get(sha256)
        try PolicyCheckpoint.restoreOptimizer(optimizer, from: Data(bytes), source: "optimizer \(sha256.prefix(12))")
    }
}
