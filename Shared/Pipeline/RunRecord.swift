import Foundation
import Store

/// Stage markers of a run (table `run_milestones`). A service writes one when its stage is
/// done; others wait for it. Writing is idempotent, so a restarted service may repeat it.
public enum Milestone: String, Sendable, CaseIterable {
    /// Evaluation suites are in `eval_items`.
    case evalSuitesBuilt = "eval_suites_built"
    /// Every SFT trajectory is published; detail {"count": N}.
    case trajectoriesPublished = "trajectories_published"
    /// Every RL prompt is published; detail {"count": N}.
    case promptsPublished = "prompts_published"
    /// Version 0 (the base) is published; detail {"version": 0}.
    case baseReady = "base_ready"
    /// SFT finished and its merged model is published; detail {"version": v}.
    case sftDone = "sft_done"
    /// GRPO started; detail {"version": v} of the first RL version.
    case rlStarted = "rl_started"
    /// GRPO finished; detail {"version": v} of the last version.
    case rlDone = "rl_done"
    /// The learner has nothing more to train; detail {"version": v} of the run's final version.
    case trainingDone = "training_done"
    /// The final version is evaluated on every suite.
    case evaluationDone = "evaluation_done"
}

/// A run as the store holds it: its configuration, and its milestones.
public struct RunRecord: Sendable {
    public let id: String
    public let config: RunConfig

    /// Creates the run (idempotent on `id`) with its admission ticket counter.
    public static func create(id: String, config: RunConfig, on client: PostgresClient) async throws -> RunRecord {
        try await client.transaction { tx in
            try await tx.execute("""
                INSERT INTO runs (id, arm, profile, config) VALUES (\(id), \(config.arm.rawValue), \(config.profile), \(json: config))
                ON CONFLICT (id) DO NOTHING
                """)
            try await tx.execute("INSERT INTO admission_tickets (run_id) VALUES (\(id)) ON CONFLICT (run_id) DO NOTHING")
        }
        return try await load(id: id, on: client)
    }

    /// The run named `id`, or an error saying it does not exist.
    public static func load(id: String, on client: PostgresClient) async throws -> RunRecord {
        guard let row = try await client.query("SELECT config::text AS config FROM runs WHERE id = \(id)").first else {
            throw RunConfigError("run '\(id)' is not in the store (start it with skinr1 up, or pass the right --run-id)")
        }
        let text: String = try row.decode("config")
        let config = try JSONDecoder().decode(RunConfig.self, from: Data(text.utf8))
        return RunRecord(id: id, config: config)
    }

    /// Records a milestone (the first write wins; later writes change nothing).
    public func mark(_ milestone: Milestone, detail: [String: Int] = [:], on client: PostgresClient) async throws {
        try await client.execute("""
            INSERT INTO run_milestones (run_id, name, detail) VALUES (\(id), \(milestone.rawValue), \(json: detail))
            ON CONFLICT (run_id, name) DO NOTHING
            """)
    }

    /// The detail of a milestone, or nil when it has not been reached.
    public func milestone(_ milestone: Milestone, on client: PostgresClient) async throws -> [String: Int]? {
        guard let row = try await client.query("""
            SELECT detail::text AS detail FROM run_milestones WHERE run_id = \(id) AND name = \(milestone.rawValue)
            """).first else { return nil }
        let text: String = try row.decode("detail")
        return try JSONDecoder().decode([String: Int].self, from: Data(text.utf8))
    }

    /// Waits until `milestone` is reached, polling; cancellation ends the wait.
    public func waitFor(_ milestone: Milestone, on client: PostgresClient,
                        poll: Duration = .milliseconds(500)) async throws -> [String: Int] {
        while true {
            if let detail = try await self.milestone(milestone, on: client) { return detail }
            try await Task.sleep(for: poll)
        }
    }

    /// Sets the run's current stage (for `skinr1 status`) or its end.
    public func setStage(_ stage: String, on client: PostgresClient) async throws {
        try await client.execute("UPDATE runs SET stage = \(stage) WHERE id = \(id)")
    }

    public func finish(status: String, on client: PostgresClient) async throws {
        try await client.execute("UPDATE runs SET status = \(status), finished_at = now() WHERE id = \(id)")
    }
}
