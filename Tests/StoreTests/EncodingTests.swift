import Foundation
import Testing
@testable import Store

@Suite("Store encoding (no server)")
struct EncodingTests {
    @Test func migrationChecksumIsTheSHA256OfItsSQL() {
        let migration = Migration(version: 99, name: "probe", sql: "abc")
        #expect(migration.checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func interpolatedValuesBecomeBindsNotSQL() throws {
        let name = "x'; DROP TABLE blobs; --"
        let limit = 5
        let missing: Int? = nil
        let query: SQLQuery = "SELECT * FROM t WHERE name = \(name) AND n < \(limit) AND m IS NOT DISTINCT FROM \(missing) \(unsafeSQL: "ORDER BY 1")"
        let (sql, binds) = try query.rendered()
        #expect(sql == "SELECT * FROM t WHERE name = $1 AND n < $2 AND m IS NOT DISTINCT FROM $3 ORDER BY 1")
        #expect(binds == [.text(name), .int64(5), nil])
        #expect(!query.description.contains("DROP"))
    }

    @Test func appendedQueriesAreRenumbered() throws {
        var query: SQLQuery = "SELECT \(1), \(2)"
        query.append(" WHERE a = \(3)")
        let (sql, binds) = try query.rendered()
        #expect(sql == "SELECT $1, $2 WHERE a = $3")
        #expect(binds.count == 3)
    }

    @Test func identifiersAreQuotedAndValidated() throws {
        #expect(try SQLIdentifier.quoted("metric_samples") == "\"metric_samples\"")
        #expect(try SQLIdentifier.quoted("public.offset") == "\"public\".\"offset\"")
        #expect(try SQLIdentifier.quoted("we\"ird") == "\"we\"\"ird\"")
        #expect(throws: PostgresError.self) { try SQLIdentifier.quoted("") }
        #expect(throws: PostgresError.self) { try SQLIdentifier.quoted("a.b.c") }
        let bad: SQLQuery = "SELECT * FROM \(identifier: "a..b")"
        #expect(throws: PostgresError.self) { try bad.rendered() }
    }

    @Test func nulCharactersAreRejectedWithAClearError() {
        let query: SQLQuery = "SELECT \("a\u{0}b")"
        let (_, binds) = (try? query.rendered()) ?? ("", [])
        #expect(throws: PostgresError.self) { try binds[0]?.textForm() }
    }

    @Test func arrayLiteralsRoundTripThroughTheParser() throws {
        let awkward = ["", "plain", "with space", "comma,brace{}", "quote\"", "back\\slash", "NULL", "ünï"]
        let literal = try SQLValue.textArray(awkward).textForm()
        let parsed = try #require(PostgresText.parseArray(literal))
        #expect(parsed == awkward)
        #expect(PostgresText.parseArray("{1,NULL,3}") == ["1", nil, "3"])
        #expect(PostgresText.parseArray("{}") == [])
        #expect(PostgresText.parseArray("not an array") == nil)
    }

    @Test func timestampsRoundTripAtMicrosecondPrecision() throws {
        let dates = [
            Date(timeIntervalSince1970: 0),
            Date(timeIntervalSince1970: 1_700_000_000.123456),
            Date(timeIntervalSince1970: -86_400 * 365 * 100 + 0.5),
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
        ]
        for date in dates {
            let text = PostgresText.timestamp(date)
            let back = try #require(PostgresText.parseTimestamp(text))
            #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6, "\(text)")
        }
        #expect(PostgresText.timestamp(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00.000000+00")
        let offset = try #require(PostgresText.parseTimestamp("2024-01-01 05:30:00+05:30"))
        #expect(offset.timeIntervalSince1970 == 1_704_067_200)
    }

    @Test func copyTextEscapesFramingCharacters() throws {
        var encoder = CopyTextEncoder(columnCount: 3)
        try encoder.append([.text("a\tb\nc\\d\re"), nil, .text("\\N")], rowNumber: 1, table: "t")
        #expect(String(decoding: encoder.take(), as: UTF8.self) == "a\\tb\\nc\\\\d\\re\t\\N\t\\\\N\n")
        #expect(throws: PostgresError.self) { try encoder.append([.text("x")], rowNumber: 2, table: "t") }
    }

    @Test func connectionStringsArePrintedWithoutPasswords() throws {
        let configuration = try PostgresConfiguration("postgresql://alice:s3cr%40t@db.example:6543/skinr1?sslmode=disable")
        #expect(configuration.description == "host=db.example port=6543 dbname=skinr1 user=alice")
        #expect(configuration.redact("x s3cr@t y s3cr%40t") == "x **** y ****")
        let keyValue = try PostgresConfiguration("host=h port=1 dbname=d user=u password='p w'")
        #expect(!keyValue.description.contains("p w"))
        #expect(keyValue.redact("said p w") == "said ****")
    }

    @Test func garbageConnectionStringsFailWithoutEchoingThePassword() {
        for garbage in ["this is not a url", "postgresql://bob:hunter2@[::1/db", "postgresql://bob:hunter2@host/db?nonsense_option=1"] {
            do {
                _ = try PostgresConfiguration(garbage)
                Issue.record("\(garbage.count)-character string was accepted")
            } catch let error as PostgresError {
                #expect(error.code == .invalidConnectionString)
                #expect(error.description.contains("cannot parse the database URL"))
                #expect(!error.description.contains("hunter2"), "\(error)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
