extension Migrations {
    /// Monitoring is SQL: views for dashboards and `skinr1 status`, readable by skinr1_readonly.
    static let migration0005 = Migration(version: 5, name: "monitoring-views", sql: """
        CREATE VIEW v_service_health AS
        SELECT service, instance_id, host, pid, version, status, started_at, last_seen,
               extract(epoch FROM now() - last_seen)::float8 AS seconds_since_seen,
               (status = 'running' AND now() - last_seen < interval '10 seconds') AS healthy,
               counters
        FROM service_heartbeats;

        CREATE VIEW v_run_progress AS
        SELECT r.id AS run_id, r.arm, r.profile, r.stage, r.status, r.started_at, r.finished_at,
               (SELECT max(version) FROM policy_versions p WHERE p.run_id = r.id) AS latest_version,
               (SELECT max(step) FROM learner_steps s WHERE s.run_id = r.id AND s.stage = 'sft') AS sft_steps,
               (SELECT max(step) FROM learner_steps s WHERE s.run_id = r.id AND s.stage = 'rl') AS rl_steps,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id) AS groups_sampled,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.used_at_step IS NOT NULL) AS groups_used,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.dropped_reason = 'stale') AS groups_dropped_stale,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.dropped_reason = 'zero_variance') AS groups_skipped_zero_variance,
               (SELECT issued FROM admission_tickets a WHERE a.run_id = r.id) AS tickets_issued
        FROM runs r;

        -- Mean reward and its components per GRPO step.
        CREATE VIEW v_reward_curve AS
        SELECT run_id, step, version, reward_mean, reward_std, format_mean, granularity_mean, malignancy_mean,
               loss, kl, clip_fraction, advantage_std, zero_variance_groups, lag_mean, wait_fraction, created_at
        FROM learner_steps WHERE stage = 'rl';

        -- How stale the groups the learner used (or dropped) were.
        CREATE VIEW v_staleness_histogram AS
        SELECT run_id, lag, count(*) FILTER (WHERE used_at_step IS NOT NULL) AS used,
               count(*) FILTER (WHERE dropped_reason = 'stale') AS dropped
        FROM rollout_groups WHERE lag IS NOT NULL
        GROUP BY run_id, lag;

        -- Groups and tokens per rollout worker, and its rate over its active span.
        CREATE VIEW v_worker_throughput AS
        SELECT run_id, worker_id, count(*) AS groups, sum(tokens) AS tokens,
               min(sampled_at) AS first_group, max(sampled_at) AS last_group,
               avg(sample_ms) AS mean_sample_ms,
               count(*) / greatest(extract(epoch FROM max(sampled_at) - min(sampled_at)) / 60.0, 1.0 / 60) AS groups_per_minute,
               array_agg(DISTINCT adapter_sha256) FILTER (WHERE adapter_sha256 IS NOT NULL) AS adapters_seen
        FROM rollout_groups GROUP BY run_id, worker_id;

        -- Evaluation results with the arm and stage that produced them (the paper's tables).
        CREATE VIEW v_eval_table AS
        SELECT e.run_id, r.arm, r.profile, e.version, e.stage, e.step, e.suite, e.dataset_id, e.metric, e.value, e.items
        FROM eval_results e JOIN runs r ON r.id = e.run_id;

        CREATE VIEW v_dead_letters AS
        SELECT topic, count(*) AS messages, max(recorded_at) AS latest
        FROM dead_letters GROUP BY topic;

        GRANT SELECT ON v_service_health, v_run_progress, v_reward_curve, v_staleness_histogram,
                        v_worker_throughput, v_eval_table, v_dead_letters TO skinr1_readonly;
        """)
}
