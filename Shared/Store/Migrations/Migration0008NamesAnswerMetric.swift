extension Migrations {
    /// One more evaluation metric: how often an answer's reasoning names the correct option.
    static let migration0008 = Migration(version: 8, name: "names-answer-metric", sql: """
        ALTER TABLE eval_results DROP CONSTRAINT eval_results_metric_check;
        ALTER TABLE eval_results ADD CONSTRAINT eval_results_metric_check CHECK (metric IN (
            'accuracy', 'macro_f1', 'format_failure_rate', 'names_option_rate', 'choice_follows_reasoning_rate',
            'names_answer_rate'));
        """)
}
