extension Migrations {
    /// Evaluators of one run share its versions: an evaluator claims a version before it
    /// decodes it, and the others pass it by while the claimant keeps heartbeating. A claim
    /// of an instance that stopped heartbeating can be taken over; a restarted instance
    /// takes its own claims back at once.
    static let migration0010 = Migration(version: 10, name: "evaluation-claims", sql: """
        CREATE TABLE eval_claims (
            run_id       text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            version      integer     NOT NULL,
            instance_id  text        NOT NULL,
            claimed_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, version)
        );
        GRANT SELECT ON eval_claims TO skinr1_readonly;
        """)
}
