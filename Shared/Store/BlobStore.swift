import ContentHash

/// Content-addressed blobs (images, weights, optimizer state) in the `blobs` table: the name
/// of a blob is the sha256 of its bytes, so writing one twice is a no-op.
public struct BlobStore: Sendable {
    private let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    /// Stores `bytes` and returns their sha256.
    @discardableResult
    public func put(_ bytes: [UInt8], mediaType: String) async throws -> String {
        try await client.withConnection { try await Self.put(bytes, mediaType: mediaType, on: $0) }
    }

    /// Stores `bytes` through `queryable` (for example inside a transaction) and returns their sha256.
    @discardableResult
    public static func put(_ bytes: [UInt8], mediaType: String, on queryable: some PostgresQueryable) async throws -> String {
        let sha = SHA256.hexDigest(bytes)
        try await queryable.execute("""
            INSERT INTO blobs (sha256, media_type, size, data) VALUES (\(sha), \(mediaType), \(Int64(bytes.count)), \(bytes))
            ON CONFLICT (sha256) DO NOTHING
            """)
        return sha
    }

    /// The bytes named `sha256`; an error names the blob when it is missing or damaged.
    public func get(_ sha256: String) async throws -> [UInt8] {
        let rows = try await client.byteaColumn("SELECT data FROM blobs WHERE sha256 = \(sha256)")
        guard let first = rows.first, let bytes = first else {
            throw PostgresError(.decoding, message: "blob \(sha256) is not in the store")
        }
        guard SHA256.hexDigest(bytes) == sha256 else {
            throw PostgresError(.decoding, message: "blob \(sha256) is damaged: its bytes hash to something else")
        }
        return bytes
    }
}
