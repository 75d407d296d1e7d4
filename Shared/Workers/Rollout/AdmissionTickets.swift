import Store
import Training

/// The run's shared ticket counter of rollout admission (METHOD.md 6.3, table
/// `admission_tickets`): every group sampled holds one ticket, and tickets are issued only
/// while the count stays within the admission window of the learner's current step.
public struct AdmissionTickets: Sendable {
    public let runID: String
    public let window: AdmissionWindow
    private let client: PostgresClient

    public init(runID: String, window: AdmissionWindow, client: PostgresClient) {
        self.runID = runID
        self.window = window
        self.client = client
    }

    /// Tickets for groups the window admits at `learnerStep` (the step of the newest RL
    /// version).
    public func capacity(learnerStep: Int) -> Int {
        window.capacity(learnerVersion: learnerStep)
    }

    /// Takes up to `count` tickets in one atomic update; returns their numbers (1-based,
    /// consecutive), empty when the window is full. The row lock taken by `FOR UPDATE`
    /// serialises workers, and the counter never passes `capacity`.
    public func take(_ count: Int, learnerStep: Int) async throws -> ClosedRange<Int>? {
        guard count > 0 else { return nil }
        let capacity = self.capacity(learnerStep: learnerStep)
        let rows = try await client.query("""
            WITH before AS (
                SELECT issued FROM admission_tickets WHERE run_id = \(runID) FOR UPDATE
            )
            UPDATE admission_tickets AS t SET issued = LEAST(before.issued + \(count), \(capacity))
            FROM before
            WHERE t.run_id = \(runID) AND before.issued < \(capacity)
            RETURNING before.issued AS previous, t.issued AS issued
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

    /// Gives back tickets taken for groups that will not be published (sampling failed),
    /// so that the learner is not left waiting for groups that never come.
    public func giveBack(_ count: Int) async throws {
        guard count > 0 else { return }
        try await client.execute("""
            UPDATE admission_tickets SET issued = GREATEST(issued - \(count), 0) WHERE run_id = \(runID)
            """)
    }

    /// Tickets issued so far, nil when the run has no counter.
    public func issued() async throws -> Int? {
        try await client.query("SELECT issued FROM admission_tickets WHERE run_id = \(runID)").first?.decode("issued")
    }
}

/// A rollout worker cannot go on: the run or its policy is not in the state it needs.
public struct RolloutWorkerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
