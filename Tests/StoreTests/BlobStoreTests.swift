import Testing
@testable import Store

@Suite("Blob store", .privateCluster, .timeLimit(.minutes(3)))
struct BlobStoreTests {
    @Test func blobsAreNamedByTheirHashAndStoredOnce() async throws {
        let url = try await TestCluster.freshDatabase()
        let client = try PostgresClient(url: url, maxConnections: 1, logger: TestCluster.logger)
        try await client.withConnection { _ = try await Migrator(logger: TestCluster.logger).migrate(on: $0) }
        let blobs = BlobStore(client: client)
        let bytes: [UInt8] = Array("abc".utf8)
        let sha = try await blobs.put(bytes, mediaType: "text/plain")
        #expect(sha == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try await blobs.put(bytes, mediaType: "text/plain") == sha)
        #expect(try await blobs.get(sha) == bytes)
        let count: Int = try await client.query("SELECT count(*)::int8 AS n FROM blobs").first!.decode("n")
        #expect(count == 1)
        let missing = String(repeating: "0", count: 64)
        let error = await #expect(throws: PostgresError.self) { try await blobs.get(missing) }
        #expect(error?.description.contains(missing) == true)
        await client.close()
    }

    @Test func byteaComesBackInBinaryFormByteForByte() async throws {
        let url = try await TestCluster.freshDatabase()
        let client = try PostgresClient(url: url, maxConnections: 1, logger: TestCluster.logger)
        try await client.withConnection { _ = try await Migrator(logger: TestCluster.logger).migrate(on: $0) }
        // Every byte value, zeros included, over two megabytes (an adapter's size).
        let big = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let sha = try await BlobStore(client: client).put(big, mediaType: "application/octet-stream")
        #expect(try await BlobStore(client: client).get(sha) == big)
        let rows = try await client.byteaColumn("SELECT * FROM (VALUES (NULL::bytea), ('\\x'::bytea), ('\\x00ff10'::bytea)) AS v(b)")
        #expect(rows == [nil, [], [0x00, 0xFF, 0x10]])
        let inTransaction = try await client.transaction { try await $0.byteaColumn("SELECT data FROM blobs WHERE sha256 = \(sha)") }
        #expect(inTransaction == [big])
        let error = await #expect(throws: PostgresError.self) {
            try await client.byteaColumn("SELECT sha256, data FROM blobs")
        }
        #expect(error?.description.contains("expected one bytea column") == true)
        #expect(error?.description.contains("text, bytea") == true)
        await client.close()
    }
}
