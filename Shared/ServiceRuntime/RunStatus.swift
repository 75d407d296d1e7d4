import Foundation
import Store

/// One screen about a run, read from the monitoring views: progress, reward curve tail,
/// workers, staleness, dead letters. Used by `skinr1 status` and `skinr1 up`'s progress.
public enum RunStatus {
    /// The newest run, when none is named.
    public static func latestRunID(_ client: PostgresClient) async throws -> String? {
        try await client.query("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").first?.decode("id")
    }

    /// A one-line progress summary of a run.
    public static func progressLine(runID: String, _ client: PostgresClient) async throws -> String {
        guard let row = try await client.query("SELECT * FROM v_run_progress WHERE run_id = \(runID)").first else {
            return "run \(runID): not found"
        }
        let stage: String = try row.decode("stage")
        let version: Int? = try row.decode("latest_version")
        let rlSteps: Int? = try row.decode("rl_steps")
        let sampled: Int = try row.decode("groups_sampled")
        let used: Int = try row.decode("groups_used")
        let dropped: Int = try row.decode("groups_dropped_stale")
        var line = "stage \(stage), version \(version.map(String.init) ?? "-"), rl step \(rlSteps.map(String.init) ?? "-"), groups sampled \(sampled) used \(used) dropped-stale \(dropped)"
        if let reward = try await client.query("""
            SELECT reward_mean, lag_mean, wait_fraction FROM v_reward_curve WHERE run_id = \(runID) ORDER BY step DESC LIMIT 1
            """).first {
            let mean: Double? = try reward.decode("reward_mean")
            let lag: Double? = try reward.decode("lag_mean")
            let wait: Double = try reward.decode("wait_fraction")
            line += String(format: ", reward %.3f, lag %.2f, learner waiting %.0f%%", mean ?? .nan, lag ?? .nan, wait * 100)
        }
        return line
    }

    /// The full screen.
    public static func screen(runID: String?, _ client: PostgresClient) async throws -> String {
        var out: [String] = []
        out.append("== services")
        out.append(ServiceHealth.table(try await ServiceHealth.all(client)))
        let chosen: String?
        if let runID { chosen = runID } else { chosen = try await latestRunID(client) }
        guard let runID = chosen else {
            out.append("\n(no run yet)")
            return out.joined(separator: "\n")
        }
        if let run = try await client.query("SELECT arm, profile, status FROM runs WHERE id = \(runID)").first {
            let arm: String = try run.decode("arm"), profile: String = try run.decode("profile"), status: String = try run.decode("status")
            out.append("\n== run \(runID) (\(arm), profile \(profile), \(status))")
        }
        out.append(try await progressLine(runID: runID, client))

        out.append("\n== reward curve (last 8 steps)")
        out.append("step  reward  format  gran   malig  kl       clip   lag   wait")
        let curve = try await client.query("""
            SELECT step, reward_mean, format_mean, granularity_mean, malignancy_mean, kl, clip_fraction, lag_mean, wait_fraction
            FROM v_reward_curve WHERE run_id = \(runID) ORDER BY step DESC LIMIT 8
            """)
        for row in curve.reversed() {
            func d(_ c: String) throws -> Double { try row.decode(c, as: Double?.self) ?? .nan }
            out.append(String(format: "%4d  %6.3f  %6.3f  %5.3f  %5.3f  %7.4f  %5.3f  %4.2f  %4.0f%%",
                              try row.decode("step", as: Int.self), try d("reward_mean"), try d("format_mean"),
                              try d("granularity_mean"), try d("malignancy_mean"), try d("kl"), try d("clip_fraction"),
                              try d("lag_mean"), try d("wait_fraction") * 100))
        }
        if curve.isEmpty { out.append("(no GRPO step yet)") }

        out.append("\n== what rollouts choose (disease questions offering the diagnosis, by quarter of the versions)")
        out.append(try await choicesTable(runID: runID, client))

        out.append("\n== rollout workers")
        let workers = try await client.query("""
            SELECT worker_id, groups, tokens, groups_per_minute, mean_sample_ms FROM v_worker_throughput
            WHERE run_id = \(runID) ORDER BY worker_id
            """)
        for row in workers {
            out.append(String(format: "%@  groups %d  tokens %d  %.1f groups/min  %.0f ms/group",
                              try row.decode("worker_id", as: String.self), try row.decode("groups", as: Int.self),
                              try row.decode("tokens", as: Int.self), try row.decode("groups_per_minute", as: Double.self),
                              try row.decode("mean_sample_ms", as: Double.self)))
        }
        if workers.isEmpty { out.append("(no rollout yet)") }

        out.append("\n== staleness (lag: used / dropped)")
        let lags = try await client.query("SELECT lag, used, dropped FROM v_staleness_histogram WHERE run_id = \(runID) ORDER BY lag")
        out.append(lags.isEmpty ? "(none yet)" : try lags.map { row in
            "\(try row.decode("lag", as: Int.self)): \(try row.decode("used", as: Int.self)) / \(try row.decode("dropped", as: Int.self))"
        }.joined(separator: "   "))

        out.append("\n== dead letters")
        let dead = try await client.query("SELECT topic, messages FROM v_dead_letters ORDER BY topic")
        out.append(dead.isEmpty ? "none" : try dead.map { "\(try $0.decode("topic", as: String.self)): \(try $0.decode("messages", as: Int.self))" }.joined(separator: ", "))
        return out.joined(separator: "\n")
    }

    /// Shares of the answers choosing the diagnosis, a coarser option on its path, an option
    /// off it, or none (`v_rl_choices`, questions whose options hold the diagnosis), in four
    /// ranges of the policy versions that sampled them.
    static func choicesTable(runID: String, _ client: PostgresClient) async throws -> String {
        let rows = try await client.query("""
            WITH c AS (SELECT version, choice, answers FROM v_rl_choices WHERE run_id = \(runID) AND label_offered),
            v AS (SELECT version, ntile(4) OVER (ORDER BY version) AS quarter FROM (SELECT DISTINCT version FROM c) d),
            q AS (SELECT v.quarter, c.* FROM c JOIN v USING (version))
            SELECT quarter, min(version) AS first, max(version) AS last, sum(answers)::int8 AS answers,
                   (sum(answers) FILTER (WHERE choice = 'label') / sum(answers))::float8 AS label,
                   (sum(answers) FILTER (WHERE choice = 'coarser') / sum(answers))::float8 AS coarser,
                   (sum(answers) FILTER (WHERE choice = 'off_path') / sum(answers))::float8 AS off_path,
                   (sum(answers) FILTER (WHERE choice = 'none') / sum(answers))::float8 AS none
            FROM q GROUP BY quarter ORDER BY quarter
            """)
        guard !rows.isEmpty else { return "(no scored disease question yet)" }
        var lines = ["versions   answers  diagnosis  coarser  off path  none"]
        for row in rows {
            func share(_ column: String) throws -> Double { try row.decode(column, as: Double?.self) ?? 0 }
            lines.append(String(format: "%4d-%-4d  %7d  %9.3f  %7.3f  %8.3f  %4.3f",
                                try row.decode("first", as: Int.self), try row.decode("last", as: Int.self),
                                try row.decode("answers", as: Int.self), try share("label"), try share("coarser"),
                                try share("off_path"), try share("none")))
        }
        return lines.joined(separator: "\n")
    }
}
