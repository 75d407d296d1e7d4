import Foundation
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import ServiceRuntime
import Store
import Testing
import Training
@testable import Workers

private func worker(_ bench: RolloutBench, id: String, promptsPerBatch: Int = 4,
                    counters: ServiceCounters = ServiceCounters(), leaseStaleAfter: Duration = .seconds(30)) -> RolloutWorker {
    RolloutWorker(record: bench.record, client: bench.client, kafka: bench.kafka,
                  settings: RolloutWorkerSettings(workerID: id, promptsPerBatch: promptsPerBatch,
                                                  versionPoll: .milliseconds(100), fetchWait: .milliseconds(100),
                                                  leaseStaleAfter: leaseStaleAfter),
                  counters: counters, logger: RolloutBench.logger)
}

private func groups(in bench: RolloutBench) async throws -> Int {
    try await bench.count("SELECT count(*)::bigint AS n FROM rollout_groups WHERE run_id = \(bench.record.id)")
}

/// Rollout workers against a real PostgreSQL and the embedded broker, with a micro policy
/// whose base and adapters the test stores as the learner would.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RolloutWorkerTests {
    @Test func promptsBecomeGroupsWithTheBehaviourLogProbsOfTheirVersion() async throws {
        let config = try rolloutTestConfig(groupSize: 4, maxNewTokens: 8)
        try await RolloutBench.with(config: config) { bench in
            let policy = try await RolloutTestPolicy.make(on: bench.client)
            let images = [try await bench.storeImage(shade: 30), try await bench.storeImage(shade: 200)]
            let prompts = rolloutPrompts(6, run: bench.record, images: images)
            try await bench.publish(prompts: prompts)
            // Another run's prompt is passed over; an unreadable one goes to the dead-letter topic.
            var foreign = rolloutPrompts(1, run: bench.record, images: images, tag: "foreign")[0]
            foreign.runID = "another-run"
            try await bench.publish(prompts: [foreign])
            try await bench.publishRaw(topic: TopicName.rlPrompts, key: "poison", value: Array("not a prompt".utf8))
            try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 18, on: bench.client)
            try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)

            let counters = ServiceCounters()
            let rollout = worker(bench, id: "w1", counters: counters)
            let started = ContinuousClock.now
            let running = Task { try await rollout.run() }
            let done = try await bench.eventually { try await groups(in: bench) == prompts.count }
            let wall = ContinuousClock.now - started
            #expect(done, "every prompt becomes a group")
            // Prompts delivered again after their groups are recorded are committed, not sampled again.
            try await bench.publish(prompts: Array(prompts.prefix(3)))
            #expect(try await bench.eventually { counters.snapshot["prompts_already_sampled"] == 3 })
            running.cancel()
            try await running.value
            #expect(try await groups(in: bench) == prompts.count)
            #expect(counters.snapshot["dead_letters"] == 1)
            let letters = try await bench.read(TopicName.deadLetter, count: 1)
            #expect(try letters.map { try DeadLetter.topic.decode($0.value).key } == [Data("poison".utf8).base64EncodedString()])

            let messages = try await bench.read(TopicName.rlRollouts, count: prompts.count)
            let sampled = try messages.map { try PipelineTopics.rollouts.decode($0.value) }
            #expect(sampled.count == prompts.count)
            #expect(Set(sampled.map(\.prompt.promptID)) == Set(prompts.map(\.promptID)))
            #expect(Set(sampled.map(\.ticket)) == Set(1...prompts.count), "one ticket per group")

            // Recompute every behaviour log-prob with the same weights (base + adapter 0).
            let model = policy.base
            try model.attach(policy.adapters[0])
            let cache = ImageCache(blobs: BlobStore(client: bench.client), side: model.config.imageSize)
            var worst: Float = 0
            var tokens = 0
            for group in sampled {
                #expect(group.answers.count == config.groupSize)
                #expect(group.policyVersion == 0)
                #expect(group.adapterSHA == policy.adapterSHAs[0])
                #expect(group.groupID == RolloutWorker.groupID(promptID: group.prompt.promptID, ticket: group.ticket))
                let image = try await cache.tensor(group.prompt.item.imageSHA)
                let sequences = group.answers.map { group.promptTokens + $0.tokens }
                let images = sequences.flatMap { _ in image }
                let recomputed = try model.sequenceLogProbs(images: images, sequences: sequences)
                for (answer, lp) in zip(group.answers, recomputed) {
                    #expect(!answer.tokens.isEmpty)
                    #expect(answer.behaviourLogProbs.count == answer.tokens.count)
                    let tail = lp[group.promptTokens.count...]
                    for (a, b) in zip(answer.behaviourLogProbs, tail) { worst = max(worst, abs(a - b)) }
                    tokens += answer.tokens.count
                }
            }
            #expect(worst <= 1e-4, "behaviour log-probs match the recomputation (worst \(worst))")

            let rows = try await bench.client.query("""
                SELECT count(*)::bigint AS n, sum(tokens)::bigint AS tokens, count(DISTINCT prompt_id)::bigint AS prompts
                FROM rollout_groups WHERE run_id = \(bench.record.id) AND adapter_sha256 = \(policy.adapterSHAs[0])
                  AND worker_id = 'w1' AND answers = \(config.groupSize)
                """)
            #expect(try rows[0].decode("n", as: Int.self) == prompts.count)
            #expect(try rows[0].decode("prompts", as: Int.self) == prompts.count)
            #expect(try rows[0].decode("tokens", as: Int.self) == tokens)
            #expect(counters.snapshot["groups"] == Int64(prompts.count))
            #expect(counters.snapshot["tokens"] == Int64(tokens))

            // Sampling throughput: the model time of each batch, counted once.
            var batches: [String: Double] = [:]
            for group in sampled { batches["\(group.sampledAt.timeIntervalSince1970)"] = group.sampleMilliseconds }
            let sampleSeconds = batches.values.reduce(0, +) / 1000
            print("rollout sampling: \(prompts.count) groups x \(config.groupSize) answers, \(tokens) tokens in "
                  + "\(batches.count) batches; model time \(String(format: "%.3f", sampleSeconds)) s -> "
                  + "\(String(format: "%.1f", Double(prompts.count) / sampleSeconds)) groups/s, "
                  + "\(String(format: "%.0f", Double(tokens) / sampleSeconds)) tokens/s; end to end \(wall); "
                  + "worst log-prob difference \(worst)")
        }
    }

    @Test func admissionStopsAtCapacityAndResumesWithANewVersion() async throws {
        // eta 0, 2 groups per step: 2 tickets at step 0, 4 at step 1, 6 at step 2.
        let config = try rolloutTestConfig(groupSize: 2, maxNewTokens: 6, eta: 0, groupsPerStep: 2)
        try await RolloutBench.with(config: config) { bench in
            let policy = try await RolloutTestPolicy.make(on: bench.client)
            let images = [try await bench.storeImage(shade: 60)]
            let prompts = rolloutPrompts(5, run: bench.record, images: images)
            try await bench.publish(prompts: prompts)
            try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 2, on: bench.client)
            try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)

            let counters = ServiceCounters()
            let rollout = worker(bench, id: "w1", promptsPerBatch: 3, counters: counters)
            let running = Task { try await rollout.run() }
            #expect(try await bench.eventually { try await groups(in: bench) == 2 })
            // The window is full: nothing more is sampled while the learner stays at step 0.
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await groups(in: bench) == 2)
            #expect((counters.snapshot["admission_waits"] ?? 0) >= 1)
            let tickets = AdmissionTickets(runID: bench.record.id, window: .init(bound: .init(eta: 0), groupsPerStep: 2), holder: "test",
                                           client: bench.client)
            #expect(try await tickets.issued() == 2)

            // The learner steps: a new version with another adapter widens the window to 4.
            try await policy.publishVersion(1, step: 1, adapter: 1, run: bench.record, capacity: 4, on: bench.client)
            #expect(try await bench.eventually { try await groups(in: bench) == 4 })
            try await Task.sleep(for: .seconds(1))
            #expect(try await groups(in: bench) == 4)
            try await policy.publishVersion(2, step: 2, adapter: 0, run: bench.record, capacity: 6, on: bench.client)
            #expect(try await bench.eventually { try await groups(in: bench) == 5 })
            running.cancel()
            try await running.value

            let rows = try await bench.client.query("""
                SELECT policy_version, adapter_sha256, ticket FROM rollout_groups WHERE run_id = \(bench.record.id) ORDER BY ticket
                """)
            let versions = try rows.map { try $0.decode("policy_version", as: Int.self) }
            let adapters = try rows.map { try $0.decode("adapter_sha256", as: String.self) }
            #expect(versions == [0, 0, 1, 1, 2], "each group is sampled by the version current when it was admitted")
            #expect(adapters == [0, 0, 1, 1, 0].map { policy.adapterSHAs[$0] })
            #expect(try rows.map { try $0.decode("ticket", as: Int.self) } == [1, 2, 3, 4, 5])
            #expect(try await tickets.issued() == 5)
            #expect((counters.snapshot["adapter_swaps"] ?? 0) == 3)
        }
    }

    @Test func ticketsLeasedToAWorkerThatStoppedHeartbeatingComeBack() async throws {
        let config = try rolloutTestConfig(groupSize: 2, maxNewTokens: 6, eta: 0, groupsPerStep: 3)
        try await RolloutBench.with(config: config) { bench in
            let window = AdmissionWindow(bound: .init(eta: 0), groupsPerStep: 3)
            let dead = AdmissionTickets(runID: bench.record.id, window: window, holder: "w-dead", client: bench.client)
            let live = AdmissionTickets(runID: bench.record.id, window: window, holder: "w-live", client: bench.client)
            try await bench.client.execute("""
                INSERT INTO service_heartbeats (service, instance_id, host, pid, version, started_at, status)
                VALUES ('rollout-generator', 'w-live', 'test', 1, 'test', now(), 'running')
                """)
            #expect(try await dead.take(2, learnerStep: 0) == 1...2)
            #expect(try await live.take(5, learnerStep: 0) == 3...3, "the window holds three")
            #expect(try await live.take(1, learnerStep: 0) == nil)
            // Fresh leases stay, whoever holds them.
            #expect(try await live.reclaimAbandoned(staleAfter: .seconds(30)) == 0)

            try await bench.client.execute("""
                UPDATE admission_leases SET taken_at = now() - interval '1 minute' WHERE run_id = \(bench.record.id)
                """)
            #expect(try await live.reclaimAbandoned(staleAfter: .seconds(30)) == 2, "only the silent holder's tickets")
            #expect(try await live.reclaimAbandoned(staleAfter: .seconds(30)) == 0)
            #expect(try await live.returned() == 2)
            let leased = try await bench.client.query("""
                SELECT ticket, instance_id FROM admission_leases WHERE run_id = \(bench.record.id) ORDER BY ticket
                """).map { "\(try $0.decode("ticket", as: Int.self)):\(try $0.decode("instance_id", as: String.self))" }
            #expect(leased == ["3:w-live"])

            // The window reopens with new ticket numbers (never reused).
            #expect(try await live.take(2, learnerStep: 0) == 4...5)
            try await live.settle(3...4)
            #expect(try await live.giveBack(5...5) == 1)
            #expect(try await live.giveBack(5...5) == 0, "giving back twice returns nothing more")
            #expect(try await live.returned() == 3)
            #expect(try await live.issued() == 5)
            // A holder whose last heartbeat says it stopped loses its leases too.
            #expect(try await live.take(1, learnerStep: 0) == 6...6)
            try await bench.client.execute("UPDATE service_heartbeats SET status = 'stopped' WHERE instance_id = 'w-live'")
            try await bench.client.execute("""
                UPDATE admission_leases SET taken_at = now() - interval '1 minute' WHERE run_id = \(bench.record.id)
                """)
            #expect(try await dead.reclaimAbandoned(staleAfter: .seconds(30)) == 1)
        }
    }

    @Test func ticketsOfDroppedGroupsComeBackOnce() async throws {
        let config = try rolloutTestConfig(groupSize: 2, maxNewTokens: 6, eta: 0, groupsPerStep: 2)
        try await RolloutBench.with(config: config) { bench in
            let run = bench.record.id
            let window = AdmissionWindow(bound: .init(eta: 0), groupsPerStep: 2)
            let tickets = AdmissionTickets(runID: run, window: window, holder: "w1", client: bench.client)
            #expect(try await tickets.take(3, learnerStep: 0) == 1...2)
            #expect(try await tickets.take(1, learnerStep: 0) == nil, "the window of step 0 holds two")
            let dropped = rolloutPrompts(2, run: bench.record, images: ["img"]).enumerated().map { i, prompt in
                RolloutGroupMessage(groupID: "\(run)-g\(i)", prompt: prompt, promptTokens: [1], answers: [], policyVersion: 0,
                                    learnerIncarnation: "test", adapterSHA: nil, workerID: "w1", ticket: i + 1,
                                    sampledAt: Date(), sampleMilliseconds: 1)
            }
            // The first group's worker recorded it (lease ended); the second's has not yet.
            try await bench.client.execute(RolloutGroupRows.mark(dropped[0], runID: run, lag: 0, usedAtStep: nil, droppedReason: nil))
            try await tickets.settle(1...1)

            // The learner drops both as stale in its step transaction.
            func dropBoth() async throws -> Int {
                try await bench.client.transaction { tx in
                    let back = try await AdmissionTickets.giveBackDropped(dropped, runID: run, on: tx)
                    for group in dropped {
                        try await tx.execute(RolloutGroupRows.mark(group, runID: run, lag: 2, usedAtStep: nil, droppedReason: "stale"))
                    }
                    return back
                }
            }
            #expect(try await dropBoth() == 2)
            #expect(try await tickets.returned() == 2)
            #expect(try await bench.count("SELECT count(*)::bigint AS n FROM admission_leases WHERE run_id = \(run)") == 0,
                    "the unsettled group's lease ended with its drop")
            // Two groups may take their place at the same learner step.
            #expect(try await tickets.take(3, learnerStep: 0) == 3...4)
            // A learner replaying the step after a restart gives nothing back twice.
            #expect(try await dropBoth() == 0)
            #expect(try await tickets.returned() == 2)
            #expect(try await tickets.take(1, learnerStep: 0) == nil)
            // Nothing is left for a reclaim to return again.
            try await bench.client.execute("UPDATE admission_leases SET taken_at = now() - interval '1 minute' WHERE run_id = \(run)")
            #expect(try await tickets.reclaimAbandoned(staleAfter: .seconds(30)) == 2, "only tickets 3 and 4, still leased")
            #expect(try await tickets.returned() == 4)
        }
    }

    @Test func aWorkerRefusedAdmissionTakesBackTheTicketsOfADeadWorker() async throws {
        // eta 0, 2 groups per step: a dead worker holds both tickets of step 0.
        let config = try rolloutTestConfig(groupSize: 2, maxNewTokens: 6, eta: 0, groupsPerStep: 2)
        try await RolloutBench.with(config: config) { bench in
            let policy = try await RolloutTestPolicy.make(on: bench.client)
            let images = [try await bench.storeImage(shade: 90)]
            let window = AdmissionWindow(bound: .init(eta: 0), groupsPerStep: 2)
            let dead = AdmissionTickets(runID: bench.record.id, window: window, holder: "w-dead", client: bench.client)
            #expect(try await dead.take(2, learnerStep: 0) == 1...2)
            try await bench.publish(prompts: rolloutPrompts(2, run: bench.record, images: images))
            try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 2, on: bench.client)
            try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)

            let counters = ServiceCounters()
            let rollout = worker(bench, id: "w1", promptsPerBatch: 2, counters: counters, leaseStaleAfter: .seconds(1))
            let running = Task { try await rollout.run() }
            #expect(try await bench.eventually { try await groups(in: bench) == 2 }, "the dead worker's tickets came back")
            running.cancel()
            try await running.value
            #expect(counters.snapshot["tickets_reclaimed"] == 2)
            let tickets = try await bench.client.query("""
                SELECT ticket FROM rollout_groups WHERE run_id = \(bench.record.id) ORDER BY ticket
                """).map { try $0.decode("ticket", as: Int.self) }
            #expect(tickets == [3, 4])
            #expect(try await bench.count("SELECT count(*)::bigint AS n FROM admission_leases WHERE run_id = \(bench.record.id)") == 0,
                    "recorded groups end their leases")
        }
    }

    @Test func twoWorkersOfOneGroupShareThePromptsWithoutDuplicates() async throws {
        let config = try rolloutTestConfig(groupSize: 2, maxNewTokens: 6)
        try await RolloutBench.with(config: config) { bench in
            let policy = try await RolloutTestPolicy.make(on: bench.client)
            let images = [try await bench.storeImage(shade: 10), try await bench.storeImage(shade: 120)]
            try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 18, on: bench.client)
            try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)

            let countersA = ServiceCounters(), countersB = ServiceCounters()
            let a = worker(bench, id: "wa", promptsPerBatch: 2, counters: countersA)
            let b = worker(bench, id: "wb", promptsPerBatch: 2, counters: countersB)
            let runningA = Task { try await a.run() }
            let runningB = Task { try await b.run() }
            // Both members hold partitions before the prompts arrive.
            let joined = try await bench.eventually(timeout: .seconds(90)) {
                let pa = countersA.snapshot["partitions"] ?? 0, pb = countersB.snapshot["partitions"] ?? 0
                return pa > 0 && pb > 0 && pa + pb == 4
            }
            #expect(joined, "both workers own partitions of the prompt topic")

            let prompts = rolloutPrompts(12, run: bench.record, images: images)
            try await bench.publish(prompts: prompts)
            #expect(try await bench.eventually { try await groups(in: bench) == prompts.count })
            try await Task.sleep(for: .seconds(1))
            runningA.cancel()
            runningB.cancel()
            try await runningA.value
            try await runningB.value

            let distinct = try await bench.count("""
                SELECT count(DISTINCT prompt_id)::bigint AS n FROM rollout_groups WHERE run_id = \(bench.record.id)
                """)
            #expect(distinct == prompts.count)
            let tickets = try await bench.client.query("""
                SELECT ticket FROM rollout_groups WHERE run_id = \(bench.record.id) ORDER BY ticket
                """)
            #expect(try tickets.map { try $0.decode("ticket", as: Int.self) } == Array(1...prompts.count),
                    "the shared counter hands each ticket to one group")
            #expect(try await groups(in: bench) == prompts.count, "each prompt exactly one group")
            let published = try await bench.read(TopicName.rlRollouts, count: prompts.count + 1, timeout: .seconds(5))
            #expect(published.count == prompts.count, "each prompt published once")
            let byA = countersA.snapshot["groups"] ?? 0, byB = countersB.snapshot["groups"] ?? 0
            #expect(byA + byB == Int64(prompts.count))
            #expect(byA > 0 && byB > 0, "both workers sampled (a: \(byA), b: \(byB))")
        }
    }

    @Test func groupIDsAndSeedsAreDeterministic() {
        #expect(RolloutWorker.groupID(promptID: "run-p1", ticket: 7) == "run-p1/t7")
        let one = RolloutWorker.samplingSeed(runSeed: 1, groupIDs: ["a/t1", "b/t2"])
        #expect(one == RolloutWorker.samplingSeed(runSeed: 1, groupIDs: ["a/t1", "b/t2"]))
        #expect(one != RolloutWorker.samplingSeed(runSeed: 2, groupIDs: ["a/t1", "b/t2"]))
        #expect(one != RolloutWorker.samplingSeed(runSeed: 1, groupIDs: ["a/t1b/t2"]))
    }
}

/// The nano policy (the default shape) is slow in debug builds and on a loaded machine: its own time limit.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct RolloutThroughputTests {
    /// Sampling speed of the nano policy (the default shape), one prompt per batch against
    /// four: the figures are printed; the test checks that every group arrives complete.
    @Test func nanoPolicySamplingThroughput() async throws {
        var figures: [String] = []
        for perBatch in [1, 4] {
            let config = try rolloutTestConfig(groupSize: 4, maxNewTokens: 32)
            try await RolloutBench.with(config: config) { bench in
                let policy = try await RolloutTestPolicy.make(on: bench.client, shape: { .nano(vocabSize: $0) })
                let images = [try await bench.storeImage(shade: 40), try await bench.storeImage(shade: 220)]
                let prompts = rolloutPrompts(8, run: bench.record, images: images)
                try await bench.publish(prompts: prompts)
                try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 18, on: bench.client)
                try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)
                let running = Task { try await worker(bench, id: "nano", promptsPerBatch: perBatch).run() }
                #expect(try await bench.eventually(timeout: .seconds(120)) { try await groups(in: bench) == prompts.count })
                running.cancel()
                try await running.value
                let sampled = try await bench.read(TopicName.rlRollouts, count: prompts.count)
                    .map { try PipelineTopics.rollouts.decode($0.value) }
                #expect(sampled.count == prompts.count)
                #expect(sampled.allSatisfy { $0.answers.count == 4 && $0.answers.allSatisfy { $0.tokens.count == $0.behaviourLogProbs.count } })
                var batches: [String: Double] = [:]
                for group in sampled { batches["\(group.sampledAt.timeIntervalSince1970)"] = group.sampleMilliseconds }
                let seconds = batches.values.reduce(0, +) / 1000
                let tokens = sampled.reduce(0) { $0 + $1.answers.reduce(0) { $0 + $1.tokens.count } }
                figures.append("\(perBatch) prompt(s)/batch: \(String(format: "%.1f", Double(prompts.count) / seconds)) groups/s, "
                               + "\(String(format: "%.0f", Double(tokens) / seconds)) tokens/s (\(tokens) tokens, model time "
                               + "\(String(format: "%.2f", seconds)) s)")
            }
        }
        print("nano policy sampling, K = 4, 32 new tokens: " + figures.joined(separator: "; "))
        #expect(figures.count == 2)
    }
}
