import Pipeline
import ServiceRuntime
import Store
import Training

/// The run's shared ticket counter of rollout admission (METHOD.md 6.3, table
/// `admission_tickets`): every group sampled holds one ticket, and tickets are issued only
/// while the tickets outstanding (`issued - returned`) stay within the admission window of
/// the learner's current step; a group the learner drops gives its ticket back
/// (`giveBackDropped`). Each ticket is leased to the worker instance that took it
/// (`admission_leases`) until its group is recorded; a worker that dies in between leaves
/// a lease that any worker reclaims once the holder has stopped heartbeating, so the
/// window does not stay shut on groups that will never come.
public struct AdmissionTickets: Sendable {
    public let runID: String
    public let window: AdmissionWindow
    /// The worker instance the tickets taken here are leased to (its heartbeat instance id).
    public let holder: String
    private let client: PostgresClient

    public init(runID: String, window: AdmissionWindow, holder: String, client: PostgresClient) {
        self.runID = runID
        self.window = window
        self.holder = holder
        self.client = client
    }

    /// Tickets for groups the window admits at `learnerStep` (the step of the newest RL
    /// version).
    public func capacity(learnerStep: Int) -> Int {
        window.capacity(learnerVersion: learnerStep)
    }

    /// Takes up to `count` tickets in one statement and leases them to `holder`; returns
    /// their numbers (1-based, consecutive, never reused), nil when the window is full. The
    /// row lock taken by `FOR UPDATE` serialises workers.
    public func take(_ count: Int, learnerStep: Int) async throws -> ClosedRange<Int>? {
        guard count > 0 else { return nil }
        let capacity = self.capacity(learnerStep: learnerStep)
        let rows = try await client.query("""
            WITH counter AS (
                SELECT issued, LEAST(\(count), \(capacity) - (issued - returned)) AS granted
                FROM admission_tickets WHERE run_id = \(runID) FOR UPDATE
            ), raised AS (
                UPDATE admission_tickets AS t SET issued = t.issued + counter.granted
                FROM counter WHERE t.run_id = \(runID) AND counter.granted > 0
                RETURNING counter.issued AS previous, t.issued AS issued
            ), leased AS (
                INSERT INTO admission_leases (run_id, ticket, instance_id)
                SELECT \(runID), n, \(holder) FROM raised, generate_series(raised.previous + 1, raised.issued) AS n
            )
            SELECT previous, issued FROM raised
            """)
        guard let row = rows.first else {
            if try await issued() == nil {
                throw RolloutWorkerError("run '\(runID)' has no admission ticket counter (admission_tickets row missing)")
            }
            return nil
        }
        let previous: Int = try row.decode("previous")
        let issued: Int = try row.decode("issued")
        return (previous + 1)...issued
    }

    /// The groups of `tickets` are recorded: their leases end (the tickets stay counted).
    public func settle(_ tickets: ClosedRange<Int>) async throws {
        try await client.execute("""
            DELETE FROM admission_leases WHERE run_id = \(runID) AND ticket BETWEEN \(tickets.lowerBound) AND \(tickets.upperBound)
            """)
    }

    /// Gives back tickets taken for groups that will not be published (sampling failed),
    /// so that the learner is not left waiting for groups that never come. Only tickets
    /// still leased count, so giving back twice, or after a reclaim, returns nothing more.
    @discardableResult
    public func giveBack(_ tickets: ClosedRange<Int>) async throws -> Int {
        try await returnLeases("ticket BETWEEN \(tickets.lowerBound) AND \(tickets.upperBound)")
    }

    /// Gives back the tickets of groups the learner drops (stale, or skipped for zero
    /// variance), in the learner's step transaction before the groups are marked dropped.
    /// A dropped group does not move the learner, so a window that kept counting it would
    /// shrink for good: two rollout workers on the quick profile dropped four groups at
    /// start-up, which left the window one step short for the rest of the run (lag 0, the
    /// learner waiting two thirds of its time). Groups already recorded as dropped give
    /// nothing back again (a learner replaying its steps after a restart), and the tickets'
    /// leases end, so a later reclaim does not return them twice. Returns how many came back.
    @discardableResult
    public static func giveBackDropped(_ groups: [RolloutGroupMessage], runID: String,
                                       on db: some PostgresQueryable) async throws -> Int {
        guard !groups.isEmpty else { return 0 }
        let rows = try await db.query("""
            WITH dropped AS (
                SELECT d.group_id, d.ticket FROM unnest(\(groups.map(\.groupID)), \(groups.map(\.ticket))) AS d (group_id, ticket)
                WHERE NOT EXISTS (SELECT 1 FROM rollout_groups g
                                  WHERE g.run_id = \(runID) AND g.group_id = d.group_id AND g.dropped_reason IS NOT NULL)
            ), unleased AS (
                DELETE FROM admission_leases l USING dropped d WHERE l.run_id = \(runID) AND l.ticket = d.ticket
            )
            UPDATE admission_tickets SET returned = returned + (SELECT count(*) FROM dropped)
            WHERE run_id = \(runID)
            RETURNING (SELECT count(*) FROM dropped) AS returned
            """)
        return try rows.first?.decode("returned", as: Int.self) ?? 0
    }

    /// Returns the tickets leased to instances that have not heartbeaten as running for
    /// `staleAfter` and were taken at least that long ago; how many came back.
    @discardableResult
    public func reclaimAbandoned(staleAfter: Duration) async throws -> Int {
        try await returnLeases(StoreHeartbeatSink.holderIsGone(instanceColumn: "l.instance_id", heldSinceColumn: "l.taken_at",
                                                               staleAfter: staleAfter))
    }

    private func returnLeases(_ condition: SQLQuery) async throws -> Int {
        let rows = try await client.query("""
            WITH gone AS (
                DELETE FROM admission_leases AS l WHERE l.run_id = \(runID) AND \(sql: condition) RETURNING ticket
            )
            UPDATE admission_tickets SET returned = returned + (SELECT count(*) FROM gone)
            WHERE run_id = \(runID)
            RETURNING (SELECT count(*) FROM gone) AS returned
            """)
        return try rows.first?.decode("returned", as: Int.self) ?? 0
    }

    /// Tickets issued so far (ticket numbers handed out), nil when the run has no counter.
    public func issued() async throws -> Int? {
        try await client.query("SELECT issued FROM admission_tickets WHERE run_id = \(runID)").first?.decode("issued")
    }

    /// Tickets given back or reclaimed so far.
    public func returned() async throws -> Int? {
        try await client.query("SELECT returned FROM admission_tickets WHERE run_id = \(runID)").first?.decode("returned")
    }
}

/// A rollout worker cannot go on: the run or its policy is not in the state it needs.
public struct RolloutWorkerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
