extension Migrations {
    /// What the rollouts of RL's disease questions chose, per policy version: the case's own
    /// diagnosis, a coarser option on its path (partly right), an option off the path, or no
    /// option at all; split by whether the diagnosis itself was among the options (an RL
    /// prompt offers k nodes of the path, not always the finest). Whether RL moves the policy's
    /// choices, which the reward's mean alone does not tell apart from format and condition.
    static let migration0009 = Migration(version: 9, name: "rl-choices-view", sql: """
        CREATE VIEW v_rl_choices AS
        SELECT w.run_id, w.policy_version AS version, c.label_offered, c.choice,
               count(*) AS answers, avg(w.r_granularity) AS granularity_mean
        FROM rewards w
        JOIN rollout_groups g ON g.group_id = w.group_id
        JOIN rl_prompts p ON p.id = g.prompt_id
        CROSS JOIN LATERAL (
            SELECT EXISTS (SELECT 1 FROM jsonb_array_elements(p.item -> 'options') o
                           WHERE o -> 'node' = p.item -> 'groundTruth') AS label_offered,
                   coalesce((SELECT CASE WHEN o -> 'node' = p.item -> 'groundTruth' THEN 'label'
                                         WHEN o ? 'pathIndex' THEN 'coarser'
                                         ELSE 'off_path' END
                             FROM jsonb_array_elements(p.item -> 'options') o
                             WHERE o ->> 'letter' = w.chosen_letter), 'none') AS choice
        ) c
        WHERE p.item ->> 'kind' = 'disease'
        GROUP BY w.run_id, w.policy_version, c.label_offered, c.choice;

        GRANT SELECT ON v_rl_choices TO skinr1_readonly;
        """)
}
