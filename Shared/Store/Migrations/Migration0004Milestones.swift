extension Migrations {
    /// How the services of a run coordinate stages without talking to each other: each
    /// writes a milestone when its stage is done, the others wait for it. Base models are
    /// shared between runs built from the same data and seed, so every arm of an
    /// experiment starts from the same base.
    static let migration0004 = Migration(version: 4, name: "milestones", sql: """
        CREATE TABLE run_milestones (
            run_id   text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name     text        NOT NULL,
            detail   jsonb       NOT NULL DEFAULT '{}'::jsonb,
            at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, name)
        );

        CREATE TABLE base_models (
            key           text        PRIMARY KEY,
            base_sha256   text        NOT NULL REFERENCES blobs (sha256),
            created_by    text        NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        GRANT SELECT ON run_milestones, base_models TO skinr1_readonly;
        """)
}
