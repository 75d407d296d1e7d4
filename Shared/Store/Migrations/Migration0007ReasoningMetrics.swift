extension Migrations {
    /// Two more evaluation metrics: how often an answer's reasoning names one of the options,
    /// and how often the option it chooses is one its reasoning names.
    static let migration0007 = Migration(version: 7, name: "reasoning-metrics", sql: """
        ALTER TABLE eval_results DROP CONSTRAINT eval_results_metric_check;
        ALTER TABLE eval_results ADD CONSTRAINT eval_results_metric_check CHECK (metric IN (
            'accuracy', 'macro_f1', 'format_failure_rate', 'names_option_rate', 'choice_follows_reasoning_rate'));
        """)
}
