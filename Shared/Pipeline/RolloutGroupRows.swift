import Store

/// The `rollout_groups` row of a sampled group, in one place for the worker that writes it
/// and the learner that marks it. Either may get there first: the worker publishes before
/// it writes the row, and the learner may already have used the group by then.
public enum RolloutGroupRows {
    /// Rows for `groups` (a group already there keeps its row, marks included).
    public static func insert(_ groups: [RolloutGroupMessage], runID: String) -> SQLQuery {
        var query = header
        for (index, group) in groups.enumerated() {
            query = query + (index == 0 ? "" : ",") + values(group, runID: runID, usedAtStep: nil, lag: nil, droppedReason: nil)
        }
        return query + " ON CONFLICT (group_id) DO NOTHING"
    }

    /// Records what the learner did with a group: used at `usedAtStep`, or dropped for `droppedReason`.
    /// Writes the whole row when the worker has not written it yet.
    public static func mark(_ group: RolloutGroupMessage, runID: String, lag: Int,
                            usedAtStep: Int?, droppedReason: String?) -> SQLQuery {
        header + values(group, runID: runID, usedAtStep: usedAtStep, lag: lag, droppedReason: droppedReason) + """
             ON CONFLICT (group_id) DO UPDATE SET used_at_step = EXCLUDED.used_at_step, lag = EXCLUDED.lag,
                                                  dropped_reason = EXCLUDED.dropped_reason
            """
    }

    private static let header: SQLQuery = """
        INSERT INTO rollout_groups (group_id, run_id, prompt_id, policy_version, learner_incarnation, adapter_sha256,
                                    worker_id, ticket, answers, tokens, sample_ms, sampled_at,
                                    used_at_step, lag, dropped_reason) VALUES
        """

    private static func values(_ group: RolloutGroupMessage, runID: String, usedAtStep: Int?, lag: Int?,
                               droppedReason: String?) -> SQLQuery {
        let tokens = group.answers.reduce(0) { $0 + $1.tokens.count }
        return """
            (\(group.groupID), \(runID), \(group.prompt.promptID), \(group.policyVersion),
             \(group.learnerIncarnation), \(group.adapterSHA), \(group.workerID), \(group.ticket),
             \(group.answers.count), \(tokens), \(group.sampleMilliseconds), \(group.sampledAt),
             \(usedAtStep), \(lag), \(droppedReason))
            """
    }
}
