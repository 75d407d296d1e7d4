extension Migrations {
    /// The clinical knowledge (taxonomy, DDx graph, diagnostic rules, dataset label maps)
    /// and the data catalogue (datasets, cases, ingestion reports).
    ///
    /// Foreign keys between knowledge rows are deferred to the end of the writing
    /// transaction, so a seeder may write nodes, edges and rules in any order.
    static let migration0002 = Migration(version: 2, name: "catalogue", sql: """
        CREATE TABLE knowledge_files (
            file         text        PRIMARY KEY,
            version      integer     NOT NULL,
            sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            loaded_at    timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE taxonomy_nodes (
            id           text        PRIMARY KEY,
            name         text        NOT NULL,
            parent_id    text        REFERENCES taxonomy_nodes (id) DEFERRABLE INITIALLY DEFERRED,
            depth        integer     NOT NULL CHECK (depth >= 0),
            condition    text        CHECK (condition IN ('benign', 'malignant', 'precancerous_in_situ')),
            aliases      text[]      NOT NULL DEFAULT '{}',
            is_leaf      boolean     NOT NULL
        );
        CREATE INDEX taxonomy_nodes_parent ON taxonomy_nodes (parent_id);

        CREATE TABLE ddx_edges (
            a            text        NOT NULL REFERENCES taxonomy_nodes (id) DEFERRABLE INITIALLY DEFERRED,
            b            text        NOT NULL REFERENCES taxonomy_nodes (id) DEFERRABLE INITIALLY DEFERRED,
            note         text        NOT NULL,
            PRIMARY KEY (a, b),
            CHECK (a < b)
        );

        CREATE TABLE diagnostic_rules (
            node_id        text      PRIMARY KEY REFERENCES taxonomy_nodes (id) DEFERRABLE INITIALLY DEFERRED,
            rule           text      NOT NULL,
            clinical_clue  text,
            hallmarks      jsonb     NOT NULL
        );

        CREATE TABLE dataset_label_maps (
            dataset      text        NOT NULL,
            level        text        NOT NULL,
            code         text        NOT NULL,
            node_id      text        REFERENCES taxonomy_nodes (id) DEFERRABLE INITIALLY DEFERRED,
            condition    text        CHECK (condition IN ('benign', 'malignant', 'precancerous_in_situ')),
            note         text,
            PRIMARY KEY (dataset, level, code)
        );

        CREATE TABLE datasets (
            id                 text        PRIMARY KEY,
            name               text        NOT NULL,
            role               text        NOT NULL CHECK (role IN ('textbook', 'train', 'ood')),
            source             text        NOT NULL,
            image_style        text        NOT NULL,
            label_granularity  text        NOT NULL,
            description        text        NOT NULL DEFAULT '',
            label_map          text,
            metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
            created_at         timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE cases (
            id            text     PRIMARY KEY,
            dataset_id    text     NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
            image_sha256  text     NOT NULL REFERENCES blobs (sha256),
            label_code    text     NOT NULL,
            label_level   text,
            node_id       text     REFERENCES taxonomy_nodes (id),
            condition     text     NOT NULL CHECK (condition IN ('benign', 'malignant', 'precancerous_in_situ')),
            split         text     NOT NULL CHECK (split IN ('train', 'val', 'test')),
            group_key     text,
            rationale     text,
            source_row    text,
            metadata      jsonb    NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX cases_dataset_split ON cases (dataset_id, split);
        CREATE INDEX cases_image ON cases (image_sha256);

        CREATE TABLE imports (
            id           bigserial   PRIMARY KEY,
            dataset_id   text        NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
            format       text        NOT NULL,
            root         text        NOT NULL,
            started_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            imported     integer     NOT NULL DEFAULT 0 CHECK (imported >= 0),
            skipped      jsonb       NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX imports_dataset ON imports (dataset_id, started_at);
        """)
}
