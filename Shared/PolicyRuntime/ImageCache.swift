import DataSynth
import NeuralNet
import Store
import Synchronization

/// Case images as the policy sees them: the JPEG blob decoded, centre-cropped and resized
/// to the model's side, normalised. Decoded once per process.
public final class ImageCache: Sendable {
    private let blobs: BlobStore
    private let side: Int
    private let cache = Mutex<[String: [Float]]>([:])

    public init(blobs: BlobStore, side: Int) {
        self.blobs = blobs
        self.side = side
    }

    /// The (side, side, 3) tensor of the image named `sha256`.
    public func tensor(_ sha256: String) async throws -> [Float] {
        if let hit = cache.withLock({ $0[sha256] }) { return hit }
        let bytes = try await blobs.get(sha256)
        let image = try JPEG.decode(bytes).preparedForModel(side: side)
        let tensor = PolicyImage.normalize(image.pixels)
        cache.withLock { $0[sha256] = tensor }
        return tensor
    }

    /// Tensors of several images, concatenated in order (a batch's `images`).
    public func batch(_ shas: [String]) async throws -> [Float] {
        var all: [Float] = []
        all.reserveCapacity(shas.count * side * side * 3)
        for sha in shas { all += try await tensor(sha) }
        return all
    }
}
