import Foundation
import Pipeline
import Store
import Testing
@testable import Workers

/// The learner may use a group before its rollout worker has written the group's row
/// (the worker publishes first): the mark must survive either order.
@Suite("Rollout group rows", .timeLimit(.minutes(3)))
struct RolloutGroupRowsTests {
    @Test func aMarkWrittenBeforeTheWorkersRowSurvivesIt() async throws {
        try await LearnerBench.with(config: try learnerTestConfig(arm: .rlOnly)) { bench in
            let runID = bench.record.id
            let early = try await bench.scoredGroup("g-early", policyVersion: 0).rollout
            let late = try await bench.scoredGroup("g-late", policyVersion: 0).rollout

            // Learner first, then the worker's insert.
            try await bench.client.execute(RolloutGroupRows.mark(early, runID: runID, lag: 1, usedAtStep: 3, droppedReason: nil))
            try await bench.client.execute(RolloutGroupRows.insert([early, late], runID: runID))
            // Worker first, then the learner drops the other group as stale.
            try await bench.client.execute(RolloutGroupRows.mark(late, runID: runID, lag: 4, usedAtStep: nil, droppedReason: "stale"))

            let rows = try await bench.client.query("""
                SELECT group_id, used_at_step, lag, dropped_reason, answers FROM rollout_groups ORDER BY group_id
                """)
            #expect(rows.count == 2)
            let first = try #require(rows.first)
            #expect(try first.decode("group_id", as: String.self) == early.groupID)
            #expect(try first.decode("used_at_step", as: Int?.self) == 3)
            #expect(try first.decode("lag", as: Int?.self) == 1)
            #expect(try first.decode("answers", as: Int.self) == early.answers.count)
            let second = try #require(rows.last)
            #expect(try second.decode("used_at_step", as: Int?.self) == nil)
            #expect(try second.decode("dropped_reason", as: String?.self) == "stale")
            #expect(try second.decode("lag", as: Int?.self) == 4)
        }
    }
}
