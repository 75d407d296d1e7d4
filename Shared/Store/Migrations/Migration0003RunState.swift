extension Migrations {
    /// Training runs and everything they produce: the synthesised corpora, policy versions,
    /// checkpoints with the Kafka offsets they include, rollout groups, rewards, learner steps
    /// and evaluation results; the admission ticket counter; a read-only role for dashboards.
    static let migration0003 = Migration(version: 3, name: "run-state", sql: """
        CREATE TABLE runs (
            id            text        PRIMARY KEY,
            arm           text        NOT NULL CHECK (arm IN ('skin-r1', 'rl-only', 'sft-only')),
            profile       text        NOT NULL,
            config        jsonb       NOT NULL,
            status        text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
            stage         text        NOT NULL DEFAULT 'setup',
            started_at    timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz
        );

        -- SFT trajectories (METHOD.md 3.3) of a run's corpus.
        CREATE TABLE trajectories (
            id                 text     PRIMARY KEY,
            run_id             text     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            type               smallint NOT NULL CHECK (type IN (1, 2, 3)),
            case_id            text     NOT NULL REFERENCES cases (id),
            image_sha256       text     NOT NULL REFERENCES blobs (sha256),
            prompt             text     NOT NULL,
            target             text     NOT NULL,
            final_node         text     NOT NULL,
            primary_node       text,
            differential_node  text,
            other_case_id      text
        );
        CREATE INDEX trajectories_run ON trajectories (run_id, type);

        -- RL prompts as published, one row per prompt and epoch.
        CREATE TABLE rl_prompts (
            id            text        PRIMARY KEY,
            run_id        text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            case_id       text        NOT NULL REFERENCES cases (id),
            dataset_id    text        NOT NULL,
            epoch         integer     NOT NULL,
            item          jsonb       NOT NULL,
            published_at  timestamptz
        );
        CREATE INDEX rl_prompts_run ON rl_prompts (run_id, epoch);

        -- Evaluation suites (METHOD.md 4 and 7), shared by every run built from the same data.
        CREATE TABLE eval_items (
            id           text     PRIMARY KEY,
            suite        text     NOT NULL CHECK (suite IN ('disease', 'ood', 'lesion_condition', 'hierarchical', 'ddx')),
            dataset_id   text     NOT NULL,
            case_id      text     NOT NULL REFERENCES cases (id),
            item         jsonb    NOT NULL
        );
        CREATE INDEX eval_items_suite ON eval_items (suite, dataset_id);

        CREATE TABLE policy_versions (
            run_id              text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            version             integer     NOT NULL CHECK (version >= 0),
            step                integer     NOT NULL,
            stage               text        NOT NULL CHECK (stage IN ('base', 'sft', 'rl')),
            base_sha256         text        NOT NULL REFERENCES blobs (sha256),
            adapter_sha256      text        REFERENCES blobs (sha256),
            learner_incarnation text        NOT NULL,
            admission_capacity  integer     NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, version)
        );

        -- Everything the learner needs to resume, written in one transaction with the
        -- consumer offsets whose groups the weights already include.
        CREATE TABLE checkpoints (
            run_id               text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step                 integer     NOT NULL,
            stage                text        NOT NULL CHECK (stage IN ('sft', 'rl')),
            version              integer     NOT NULL,
            base_sha256          text        NOT NULL REFERENCES blobs (sha256),
            adapter_sha256       text        REFERENCES blobs (sha256),
            optimizer_sha256     text        REFERENCES blobs (sha256),
            reference_sha256     text        REFERENCES blobs (sha256),
            rng_state            jsonb       NOT NULL,
            kafka_offsets        jsonb       NOT NULL,
            learner_incarnation  text        NOT NULL,
            created_at           timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, stage, step)
        );

        -- Ticket counter of rollout admission (METHOD.md 6.3): one row per run.
        CREATE TABLE admission_tickets (
            run_id   text    PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
            issued   bigint  NOT NULL DEFAULT 0
        );

        CREATE TABLE rollout_groups (
            group_id             text        PRIMARY KEY,
            run_id               text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            prompt_id            text        NOT NULL,
            policy_version       integer     NOT NULL,
            learner_incarnation  text        NOT NULL,
            adapter_sha256       text,
            worker_id            text        NOT NULL,
            ticket               bigint      NOT NULL,
            answers              integer     NOT NULL,
            tokens               integer     NOT NULL,
            sample_ms            double precision NOT NULL,
            sampled_at           timestamptz NOT NULL,
            -- Set by the learner: the step that used the group, or why it was dropped.
            used_at_step         integer,
            lag                  integer,
            dropped_reason       text CHECK (dropped_reason IN ('stale', 'zero_variance', 'other_incarnation'))
        );
        CREATE INDEX rollout_groups_run ON rollout_groups (run_id, sampled_at);
        CREATE INDEX rollout_groups_worker ON rollout_groups (run_id, worker_id);

        CREATE TABLE rewards (
            group_id       text             NOT NULL,
            answer_index   integer          NOT NULL,
            run_id         text             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            policy_version integer          NOT NULL,
            r_format       double precision NOT NULL,
            r_granularity  double precision NOT NULL,
            r_malignancy   double precision NOT NULL,
            r_total        double precision NOT NULL CHECK (r_total BETWEEN 0 AND 2),
            advantage      double precision NOT NULL,
            chosen_letter  text,
            correct        boolean          NOT NULL,
            scorer_id      text             NOT NULL,
            scored_at      timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, answer_index)
        );
        CREATE INDEX rewards_run ON rewards (run_id, policy_version);

        CREATE TABLE learner_steps (
            run_id                      text             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            stage                       text             NOT NULL CHECK (stage IN ('sft', 'rl')),
            step                        integer          NOT NULL,
            version                     integer          NOT NULL,
            loss                        double precision NOT NULL,
            kl                          double precision,
            clip_fraction               double precision,
            reward_mean                 double precision,
            reward_std                  double precision,
            format_mean                 double precision,
            granularity_mean            double precision,
            malignancy_mean             double precision,
            advantage_std               double precision,
            groups                      integer,
            zero_variance_groups        integer,
            lag_min                     integer,
            lag_mean                    double precision,
            lag_max                     integer,
            dropped_stale               integer,
            truncated_weight_fraction   double precision,
            grad_norm                   double precision NOT NULL,
            learning_rate               double precision NOT NULL,
            tokens_per_second           double precision NOT NULL,
            wait_fraction               double precision NOT NULL,
            created_at                  timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, stage, step)
        );

        CREATE TABLE eval_results (
            run_id       text             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            version      integer          NOT NULL,
            stage        text             NOT NULL,
            step         integer          NOT NULL,
            suite        text             NOT NULL,
            dataset_id   text             NOT NULL,
            metric       text             NOT NULL CHECK (metric IN ('accuracy', 'macro_f1', 'format_failure_rate')),
            value        double precision NOT NULL,
            items        integer          NOT NULL,
            created_at   timestamptz      NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, version, suite, dataset_id, metric)
        );

        -- Dashboards read with this role and can change nothing.
        DO $$
        BEGIN
            CREATE ROLE skinr1_readonly NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$;
        GRANT USAGE ON SCHEMA public TO skinr1_readonly;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO skinr1_readonly;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO skinr1_readonly;
        """)
}
