import Foundation
import Logging
import Messaging
import Pipeline
import ServiceLifecycle
import Store
import Synchronization
import Testing
@testable import Workers

/// Runs a learner as a service of a `ServiceGroup`, as the executable does, keeping its summary.
final class LearnerUnderTest: Service, Sendable {
    let worker: LearnerWorker
    let summary = Mutex<LearnerSummary?>(nil)

    init(worker: LearnerWorker) { self.worker = worker }

    func run() async throws {
        let result = try await worker.run()
        summary.withLock { $0 = result }
    }
}

@Suite("Learner", .serialized)
struct LearnerTests {
    @Test("SFT lowers the loss and publishes versions 0 (base) and 1 (sft)", .timeLimit(.minutes(3)))
    func sftLowersTheLossAndPublishesTwoVersions() async throws {
        try await LearnerBench.with(config: try learnerTestConfig(arm: .sftOnly)) { bench in
            try await bench.writeTrajectories(4, publish: true)
            let summary = try await bench.learner().run()

            #expect(summary.pretrainLosses.count == 40)
            #expect(summary.appearanceSource == AppearanceSource.ruleHallmarks.rawValue)
            #expect(summary.sftLosses.count == 8)
            let first = try #require(summary.sftLosses.first), last = try #require(summary.sftLosses.last)
            #expect(last < first * 0.9, "SFT loss went from \(first) to \(last)")
            #expect(summary.finalVersion == 1)

            let versions = try await bench.client.query("""
                SELECT version, stage, base_sha256 FROM policy_versions WHERE run_id = \(bench.record.id) ORDER BY version
                """)
            #expect(try versions.map { try $0.decode("stage", as: String.self) } == ["base", "sft"])
            let shas = try versions.map { try $0.decode("base_sha256", as: String.self) }
            #expect(shas[0] != shas[1], "the merged SFT model is a new base")
            let published = try await bench.read(TopicName.policyVersions, count: 2)
            let messages = try published.map { try PipelineTopics.policyVersions.decode($0.value) }
            #expect(messages.map(\.version) == [0, 1])
            #expect(try await bench.record.milestone(.sftDone, on: bench.client) == ["version": 1])
            #expect(try await bench.record.milestone(.trainingDone, on: bench.client) == ["version": 1])
            let steps: Int = try await bench.client.query("""
                SELECT count(*)::int AS n FROM learner_steps WHERE run_id = \(bench.record.id) AND stage = 'sft'
                """).first!.decode("n")
            #expect(steps == 8)

            // Another learner of the same run finds everything done; the base cache holds one entry.
            let again = try await bench.learner().run()
            #expect(again.finalVersion == 1 && again.sftLosses.isEmpty)
            let cached: Int = try await bench.client.query("SELECT count(*)::int AS n FROM base_models").first!.decode("n")
            #expect(cached == 1)

            // A second run built from the same data and knobs loads the cached base instead of training one.
            let other = try await RunRecord.create(id: bench.record.id + "-b", config: bench.record.config, on: bench.client)
            try await bench.client.execute("""
                INSERT INTO trajectories (id, run_id, type, case_id, image_sha256, prompt, target, final_node)
                SELECT id || '-b', \(other.id), type, case_id, image_sha256, prompt, target, final_node
                FROM trajectories WHERE run_id = \(bench.record.id)
                """)
            try await other.mark(.evalSuitesBuilt, on: bench.client)
            try await other.mark(.trajectoriesPublished, detail: ["count": 0], on: bench.client)
            try await other.mark(.promptsPublished, detail: ["count": 0], on: bench.client)
            let reuse = try await LearnerWorker(run: other, client: bench.client, kafka: bench.kafka,
                                                options: LearnerOptions(pollWait: .milliseconds(100)),
                                                logger: LearnerBench.logger).run()
            #expect(reuse.baseReused && reuse.pretrainLosses.isEmpty)
            #expect(reuse.baseSHA == shas[0], "both runs start from the identical base")
        }
    }

    @Test("a GRPO step publishes a version, writes its metrics and drops a stale group", .timeLimit(.minutes(3)))
    func grpoStepPublishesAndDropsStale() async throws {
        var config = try learnerTestConfig(arm: .rlOnly)
        config.stalenessBound = 0
        config.loraDropout = 0.1   // exercises the separate proximal pass
        try await LearnerBench.with(config: config) { bench in
            try await bench.writeTrajectories(2, publish: false)
            // The learner's first RL version is 1 (0 is the base): version-0 groups lag 1 > eta = 0.
            let groups = [
                try await bench.scoredGroup("g-other", policyVersion: 1, runID: "another-run"),
                try await bench.scoredGroup("g-stale", policyVersion: 0),
                try await bench.scoredGroup("g-1", policyVersion: 1),
                try await bench.scoredGroup("g-flat", policyVersion: 1, zeroVariance: true),
            ]
            var outOfVocabulary = try await bench.scoredGroup("g-bad", policyVersion: 1)
            outOfVocabulary.rollout.answers[0].tokens[0] = 70_000
            try await bench.publish([outOfVocabulary] + groups, garbageFirst: true)
            let summary = try await bench.learner().run()

            #expect(summary.finalVersion == 2)
            let deadLetters = try await bench.read(TopicName.deadLetter, count: 2, timeout: .seconds(10))
            #expect(deadLetters.map(\.keyString) == ["garbage", "g-bad"],
                    "the undecodable message and the group with a token outside the vocabulary went to the dead-letter topic")
            let step = try #require(summary.rlSteps.first)
            #expect(step.groupIDs == ["g-1", "g-flat"])
            #expect(step.droppedStale == ["g-stale"])
            let row = try #require(try await bench.client.query("""
                SELECT * FROM learner_steps WHERE run_id = \(bench.record.id) AND stage = 'rl' AND step = 1
                """).first)
            #expect(try row.decode("version", as: Int.self) == 2)
            #expect(try row.decode("dropped_stale", as: Int.self) == 1)
            #expect(try row.decode("zero_variance_groups", as: Int.self) == 1)
            #expect(try row.decode("groups", as: Int.self) == 2)
            #expect(try row.decode("lag_max", as: Int.self) == 0)
            #expect(try row.decode("grad_norm", as: Double.self) > 0)
            #expect(abs(try row.decode("reward_mean", as: Double.self) - 1.5) < 1e-9)   // (2 + 0 + 2 + 2) / 4
            #expect(abs(try row.decode("format_mean", as: Double.self) - 0.75) < 1e-9)
            for column in ["loss", "kl", "clip_fraction", "reward_std", "granularity_mean", "malignancy_mean", "advantage_std",
                           "lag_min", "lag_mean", "truncated_weight_fraction", "learning_rate", "tokens_per_second",
                           "wait_fraction"] {
                #expect(try !row.isNull(column), "learner_steps.\(column) is empty")
            }
            let marks = try await bench.client.query("""
                SELECT group_id, used_at_step, dropped_reason FROM rollout_groups WHERE run_id = \(bench.record.id) ORDER BY group_id
                """)
            let byID = Dictionary(uniqueKeysWithValues: try marks.map {
                (try $0.decode("group_id", as: String.self), (try $0.decode("used_at_step", as: Int?.self), try $0.decode("dropped_reason", as: String?.self)))
            })
            #expect(byID["g-stale"]?.1 == "stale" && byID["g-stale"]?.0 == nil)
            #expect(byID["g-1"]?.0 == 1 && byID["g-flat"]?.0 == 1)
            let returned = try await bench.client.query("SELECT returned FROM admission_tickets WHERE run_id = \(bench.record.id)")
            #expect(try returned.first?.decode("returned", as: Int.self) == 1, "the stale group's ticket came back to the admission window")

            let versions = try await bench.client.query("""
                SELECT version, stage, step, adapter_sha256 FROM policy_versions WHERE run_id = \(bench.record.id) ORDER BY version
                """)
            #expect(try versions.map { try $0.decode("stage", as: String.self) } == ["base", "rl", "rl"])
            let adapters = try versions.map { try $0.decode("adapter_sha256", as: String?.self) }
            #expect(adapters[1] != nil && adapters[2] != nil && adapters[1] != adapters[2], "the step changed the adapter")
            let published = try await bench.read(TopicName.policyVersions, count: 3)
            #expect(try published.map { try PipelineTopics.policyVersions.decode($0.value).version } == [0, 1, 2])
            #expect(try await bench.record.milestone(.rlStarted, on: bench.client) == ["version": 1])
        }
    }

    @Test("a restarted learner resumes at its checkpoint's offsets: every group used at exactly one step",
          .timeLimit(.minutes(4)))
    func restartResumesFromTheCheckpoint() async throws {
        var config = try learnerTestConfig(arm: .rlOnly)
        config.rlSteps = 4
        config.stalenessBound = 8
        config.checkpointEvery = 2
        try await LearnerBench.with(config: config) { bench in
            try await bench.writeTrajectories(2, publish: false)
            var groups: [ScoredGroupMessage] = []
            for i in 1...8 { groups.append(try await bench.scoredGroup("g-\(i)", policyVersion: 1)) }
            try await bench.publish(groups)

            // The first learner stops after three steps as a crash would: step 3 is past its last checkpoint.
            let first = try await bench.learner(LearnerOptions(incarnation: "first", pollWait: .milliseconds(100), sessionTimeout: .seconds(3),
                                                               haltAfterRLSteps: 3)).run()
            #expect(first.stoppedEarly && first.finalVersion == nil)
            #expect(first.rlSteps.map(\.step) == [1, 2, 3])
            let checkpoint = try #require(try await bench.client.query("""
                SELECT step, kafka_offsets::text AS offsets FROM checkpoints WHERE run_id = \(bench.record.id) AND stage = 'rl'
                ORDER BY step DESC LIMIT 1
                """).first)
            #expect(try checkpoint.decode("step", as: Int.self) == 2)
            let offsets = try JSONDecoder().decode([StoredOffset].self, from: Data(try checkpoint.decode("offsets", as: String.self).utf8))
            #expect(offsets.map(\.offset) == [4], "the checkpoint includes the first four groups")

            let second = try await bench.learner(LearnerOptions(incarnation: "second", pollWait: .milliseconds(100), sessionTimeout: .seconds(3))).run()
            #expect(second.resumedFromStep == 2)
            #expect(second.rlSteps.map(\.step) == [3, 4])
            #expect(second.finalVersion == 5)   // base 0, RL start 1, four steps
            // Step 3 is redone from the same groups; steps 1-2 are never replayed.
            #expect(second.rlSteps.first?.groupIDs == first.rlSteps.last?.groupIDs)
            let kept = first.rlSteps.prefix(2).flatMap(\.groupIDs) + second.rlSteps.flatMap(\.groupIDs)
            #expect(kept.sorted() == (1...8).map { "g-\($0)" }.sorted(), "each group applied exactly once: \(kept)")

            let rows = try await bench.client.query("""
                SELECT used_at_step, count(*)::int AS n FROM rollout_groups WHERE run_id = \(bench.record.id)
                GROUP BY used_at_step ORDER BY used_at_step
                """)
            #expect(try rows.map { try $0.decode("used_at_step", as: Int?.self) } == [1, 2, 3, 4])
            #expect(try rows.map { try $0.decode("n", as: Int.self) } == [2, 2, 2, 2])
            let incarnation: String = try await bench.client.query("""
                SELECT learner_incarnation FROM policy_versions WHERE run_id = \(bench.record.id) AND version = 5
                """).first!.decode("learner_incarnation")
            #expect(incarnation == "second")
            #expect(try await bench.record.milestone(.rlDone, on: bench.client) == ["version": 5])
        }
    }

    @Test("graceful shutdown while waiting for groups checkpoints the finished step; a new learner resumes after it",
          .timeLimit(.minutes(3)))
    func gracefulShutdownKeepsFinishedSteps() async throws {
        var config = try learnerTestConfig(arm: .rlOnly)
        config.rlSteps = 3
        config.stalenessBound = 8
        config.checkpointEvery = 10
        try await LearnerBench.with(config: config) { bench in
            try await bench.writeTrajectories(2, publish: false)
            try await bench.publish([try await bench.scoredGroup("g-1", policyVersion: 1),
                                     try await bench.scoredGroup("g-2", policyVersion: 1)])
            let service = LearnerUnderTest(worker: bench.learner(LearnerOptions(
                incarnation: "first", pollWait: .milliseconds(100), sessionTimeout: .seconds(3))))
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: LearnerBench.logger))
            let running = Task { try await group.run() }
            // Step 1 has all it needs; step 2 waits for groups that never come.
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                let n: Int = try await bench.client.query("""
                    SELECT count(*)::int AS n FROM learner_steps WHERE run_id = \(bench.record.id) AND stage = 'rl'
                    """).first!.decode("n")
                if n == 1 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(300))
            await group.triggerGracefulShutdown()
            try await running.value
            let first = try #require(service.summary.withLock { $0 })
            #expect(first.stoppedEarly && first.rlSteps.map(\.step) == [1])
            let checkpoint = try #require(try await bench.client.query("""
                SELECT step, kafka_offsets::text AS offsets FROM checkpoints WHERE run_id = \(bench.record.id) AND stage = 'rl'
                ORDER BY step DESC LIMIT 1
                """).first)
            #expect(try checkpoint.decode("step", as: Int.self) == 1)
            let offsets = try JSONDecoder().decode([StoredOffset].self, from: Data(try checkpoint.decode("offsets", as: String.self).utf8))
            #expect(offsets.map(\.offset) == [2])

            try await bench.publish(try await (3...6).asyncMap { try await bench.scoredGroup("g-\($0)", policyVersion: 1) })
            let second = try await bench.learner(LearnerOptions(incarnation: "second", pollWait: .milliseconds(100),
                                                                sessionTimeout: .seconds(3))).run()
            #expect(second.resumedFromStep == 1)
            #expect(second.rlSteps.map(\.groupIDs) == [["g-3", "g-4"], ["g-5", "g-6"]])
            #expect(second.finalVersion == 4)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
