extension Migrations {
    /// Admission tickets held by a worker that died before publishing its group come back:
    /// every taken ticket is leased to the worker instance until its group is recorded, and
    /// leases whose holder stopped heartbeating are reclaimed. Ticket numbers stay unique
    /// (`issued` only grows); the window counts `issued - returned`.
    static let migration0006 = Migration(version: 6, name: "admission-leases", sql: """
        ALTER TABLE admission_tickets ADD COLUMN returned bigint NOT NULL DEFAULT 0;

        CREATE TABLE admission_leases (
            run_id       text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            ticket       bigint      NOT NULL,
            instance_id  text        NOT NULL,
            taken_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, ticket)
        );

        CREATE OR REPLACE VIEW v_run_progress AS
        SELECT r.id AS run_id, r.arm, r.profile, r.stage, r.status, r.started_at, r.finished_at,
               (SELECT max(version) FROM policy_versions p WHERE p.run_id = r.id) AS latest_version,
               (SELECT max(step) FROM learner_steps s WHERE s.run_id = r.id AND s.stage = 'sft') AS sft_steps,
               (SELECT max(step) FROM learner_steps s WHERE s.run_id = r.id AND s.stage = 'rl') AS rl_steps,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id) AS groups_sampled,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.used_at_step IS NOT NULL) AS groups_used,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.dropped_reason = 'stale') AS groups_dropped_stale,
               (SELECT count(*) FROM rollout_groups g WHERE g.run_id = r.id AND g.dropped_reason = 'zero_variance') AS groups_skipped_zero_variance,
               (SELECT issued FROM admission_tickets a WHERE a.run_id = r.id) AS tickets_issued,
               (SELECT returned FROM admission_tickets a WHERE a.run_id = r.id) AS tickets_returned,
               (SELECT count(*) FROM admission_leases l WHERE l.run_id = r.id) AS tickets_leased
        FROM runs r;
        """)
}
