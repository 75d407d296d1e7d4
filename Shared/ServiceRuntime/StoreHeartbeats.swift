import Backoff
import Foundation
import Store

/// Records heartbeats in `service_heartbeats`, one row per process, upserted.
public struct StoreHeartbeatSink: HeartbeatSink {
    let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    public func record(_ beat: Heartbeat) async throws {
        try await client.execute("""
            INSERT INTO service_heartbeats
                (service, instance_id, host, pid, version, started_at, last_seen, status, counters)
            VALUES (\(beat.service), \(beat.instanceID), \(beat.host), \(Int32(beat.pid)), \(beat.version),
                    \(beat.startedAt), now(), \(beat.status.rawValue), \(json: beat.counters))
            ON CONFLICT (service, instance_id) DO UPDATE SET
                host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
                started_at = EXCLUDED.started_at, last_seen = now(),
                status = EXCLUDED.status, counters = EXCLUDED.counters
            """)
    }
}

extension StoreHeartbeatSink {
    /// SQL that holds when work a process took is abandoned: taken at least `staleAfter` ago
    /// (the column `heldSinceColumn`) by an instance (the column `instanceColumn`) that has
    /// not heartbeaten as starting or running within `staleAfter`. Both columns are trusted
    /// identifiers such as `l.taken_at`. Admission leases and evaluation claims are judged so.
    public static func holderIsGone(instanceColumn: String, heldSinceColumn: String, staleAfter: Duration) -> SQLQuery {
        let seconds = staleAfter.seconds
        return """
            (\(unsafeSQL: heldSinceColumn) < now() - make_interval(secs => \(seconds))
             AND NOT EXISTS (SELECT 1 FROM service_heartbeats h
                             WHERE h.instance_id = \(unsafeSQL: instanceColumn) AND h.status IN ('starting', 'running')
                               AND h.last_seen > now() - make_interval(secs => \(seconds))))
            """
    }
}

/// One row of the service health view.
public struct ServiceHealth: Sendable {
    public var service: String
    public var instanceID: String
    public var host: String
    public var pid: Int
    public var version: String
    public var status: String
    public var secondsSinceSeen: Double
    public var counters: [String: Int64]
    /// Running and seen within the freshness window.
    public var healthy: Bool

    /// Reads every heartbeat; a process is healthy when running and seen within `freshness`.
    public static func all(_ client: PostgresClient, freshness: Duration = .seconds(10)) async throws -> [ServiceHealth] {
        let limit = freshness.seconds
        let rows = try await client.query("""
            SELECT service, instance_id, host, pid, version, status,
                   extract(epoch FROM now() - last_seen)::float8 AS age, counters::text AS counters
            FROM service_heartbeats ORDER BY service, instance_id
            """)
        return try rows.map { row in
            let counterText: String = try row.decode("counters")
            let counters = (try? JSONDecoder().decode([String: Int64].self, from: Data(counterText.utf8))) ?? [:]
            let status: String = try row.decode("status")
            let age: Double = try row.decode("age")
            return ServiceHealth(
                service: try row.decode("service"), instanceID: try row.decode("instance_id"),
                host: try row.decode("host"), pid: Int(try row.decode("pid", as: Int32.self)),
                version: try row.decode("version"), status: status, secondsSinceSeen: age,
                counters: counters, healthy: status == Heartbeat.Status.running.rawValue && age <= limit)
        }
    }

    /// A fixed-width table for terminals.
    public static func table(_ rows: [ServiceHealth]) -> String {
        var lines = ["service                 instance                  status    seen   health  counters"]
        for r in rows {
            let counters = r.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append([
                r.service.padding(toLength: 23, withPad: " ", startingAt: 0),
                r.instanceID.padding(toLength: 25, withPad: " ", startingAt: 0),
                r.status.padding(toLength: 9, withPad: " ", startingAt: 0),
                String(format: "%5.1fs", r.secondsSinceSeen),
                (r.healthy ? "ok" : "STALE").padding(toLength: 7, withPad: " ", startingAt: 0),
                counters,
            ].joined(separator: " "))
        }
        if rows.isEmpty { lines.append("(no service has reported yet)") }
        return lines.joined(separator: "\n")
    }
}
