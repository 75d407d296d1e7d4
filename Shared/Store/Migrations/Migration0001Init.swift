extension Migrations {
    /// Service heartbeats, dead letters, content-addressed blobs and metric samples.
    static let migration0001 = Migration(version: 1, name: "init", sql: """
        CREATE TABLE service_heartbeats (
            service      text        NOT NULL,
            instance_id  text        NOT NULL,
            host         text        NOT NULL,
            pid          integer     NOT NULL,
            version      text        NOT NULL,
            started_at   timestamptz NOT NULL,
            last_seen    timestamptz NOT NULL DEFAULT now(),
            status       text        NOT NULL,
            counters     jsonb       NOT NULL DEFAULT '{}'::jsonb,
            PRIMARY KEY (service, instance_id)
        );

        CREATE TABLE dead_letters (
            id           bigserial   PRIMARY KEY,
            topic        text        NOT NULL,
            partition    integer     NOT NULL,
            "offset"     bigint      NOT NULL,
            key          text,
            error        text        NOT NULL,
            payload      bytea,
            recorded_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (topic, partition, "offset")
        );

        CREATE TABLE blobs (
            sha256       text        PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            media_type   text        NOT NULL,
            size         bigint      NOT NULL CHECK (size >= 0),
            data         bytea       NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE metric_samples (
            run_id       text             NOT NULL,
            name         text             NOT NULL,
            step         bigint           NOT NULL,
            value        double precision NOT NULL,
            recorded_at  timestamptz      NOT NULL DEFAULT now()
        );
        CREATE INDEX metric_samples_run_name_step ON metric_samples (run_id, name, step);
        """)
}
