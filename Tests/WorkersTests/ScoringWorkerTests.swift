import Domain
import Foundation
import Messaging
import Pipeline
import ServiceRuntime
import Store
import Testing
@testable import Workers

private func answerText(_ final: String) -> String {
    "<thinking> asymmetric, several colours </thinking> <final diagnosis> \(final) </final diagnosis>"
}

/// A rollout group as a worker would publish it (tokens and log-probs are stand-ins of the right length).
private func rolloutGroup(_ id: String, run: String, texts: [String], version: Int = 3) -> RolloutGroupMessage {
    let prompt = RLPromptMessage(promptID: "\(id)-prompt", runID: run, epoch: 0,
                                 item: rolloutTestItem(id: "\(id)-item", imageSHA: String(repeating: "0", count: 64)))
    let answers = texts.map { text in
        RolloutAnswer(tokens: [5, 6, 7], text: text, behaviourLogProbs: [-1, -2, -0.5], finished: true)
    }
    return RolloutGroupMessage(groupID: id, prompt: prompt, promptTokens: [1, 40, 41], answers: answers,
                               policyVersion: version, learnerIncarnation: "incarnation-1", adapterSHA: nil,
                               workerID: "w1", ticket: 1, sampledAt: Date(timeIntervalSince1970: 1_700_000_000),
                               sampleMilliseconds: 12)
}

@Suite struct ScoringRuleTests {
    @Test func rewardsAndAdvantagesOfAGroup() throws {
        let group = rolloutGroup("g", run: "r", texts: [
            answerText("A, malignant"),      // finest option, right condition: 2.0
            answerText("B, malignant"),      // parent on the path: 1 + 0.375 + 0.25
            answerText("C, benign"),         // off the path, wrong condition: 1.0
            "\u{0}\u{7f}<final diagnosis><<<garbage",  // malformed: 0
        ])
        let scored = try ScoringWorker.score(group, scorerID: "s")
        #expect(scored.rewards.map(\.total) == [2.0, 1.625, 1.0, 0.0])
        #expect(scored.rewards[3].chosenLetter == nil)
        #expect(scored.rewards[0].correct && !scored.rewards[1].correct)
        #expect(abs(scored.advantages.reduce(0, +)) < 1e-9)
        #expect(scored.advantages[0] > scored.advantages[1] && scored.advantages[2] > scored.advantages[3])
        let rows = RewardRow.rows(of: scored, runID: "r")
        #expect(rows.map(\.answerIndex) == [0, 1, 2, 3])
    }

    @Test func groupsTheLearnerCannotUseAreRejected() {
        #expect(throws: UnprocessableMessage.self) {
            try ScoringWorker.score(rolloutGroup("empty", run: "r", texts: []), scorerID: "s")
        }
        var broken = rolloutGroup("short", run: "r", texts: [answerText("A, malignant")])
        broken.answers[0].behaviourLogProbs = [-1]
        #expect(throws: UnprocessableMessage.self) { try ScoringWorker.score(broken, scorerID: "s") }
    }
}

/// The scorer against a real PostgreSQL and the embedded broker.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScoringWorkerTests {
    @Test func scoresGroupsDeadLettersPoisonAndIgnoresRedelivery() async throws {
        let config = try rolloutTestConfig(groupSize: 4)
        try await RolloutBench.with(config: config) { bench in
            let run = bench.record.id
            let texts = [answerText("A, malignant"), answerText("B, benign"), answerText("D, benign"), "no tags at all: A"]
            let groups = (0..<5).map { rolloutGroup("\(run)-g\($0)", run: run, texts: $0 == 2 ? Array(texts.reversed()) : texts) }
            let foreign = rolloutGroup("other-g0", run: "another-run", texts: texts)
            let producer = try KafkaProducer(configuration: bench.kafka, logger: RolloutBench.logger)
            _ = try await producer.sendAll(try (groups + [foreign]).map {
                try PipelineTopics.rollouts.message(key: $0.groupID, value: $0)
            })
            _ = try await producer.send(KafkaProducerMessage(topic: TopicName.rlRollouts, key: "poison",
                                                             value: Array("{\"not\": \"an envelope\"".utf8)))

            let counters = ServiceCounters()
            let scorer = ScoringWorker(runID: run, client: bench.client, kafka: bench.kafka,
                                       settings: ScoringWorkerSettings(scorerID: "s1", rowBatch: 6,
                                                                       flushInterval: .milliseconds(200)),
                                       counters: counters, logger: RolloutBench.logger)
            let started = ContinuousClock.now
            let running = Task { try await scorer.run() }
            let rowCount = { try await bench.count("SELECT count(*)::bigint AS n FROM rewards WHERE run_id = \(run)") }
            #expect(try await bench.eventually { try await rowCount() == groups.count * texts.count })
            let elapsed = ContinuousClock.now - started

            let letters = try await bench.read(TopicName.deadLetter, count: 1)
            #expect(letters.count == 1)
            let letter = try DeadLetter.topic.decode(try #require(letters.first).value)
            #expect(letter.originTopic == TopicName.rlRollouts)
            #expect(letter.payloadBytes == Array("{\"not\": \"an envelope\"".utf8))

            let scored = try await bench.read(TopicName.rlScored, count: groups.count)
                .map { try PipelineTopics.scored.decode($0.value) }
            #expect(Set(scored.map(\.rollout.groupID)) == Set(groups.map(\.groupID)), "scored groups published, the foreign one not")
            for group in scored {
                #expect(abs(group.advantages.reduce(0, +)) < 1e-9)
                #expect(group.rewards.count == texts.count)
            }

            let rows = try await bench.client.query("""
                SELECT group_id, answer_index, r_total, r_format, advantage, chosen_letter, correct, policy_version,
                       scorer_id, scored_at::text AS at
                FROM rewards WHERE run_id = \(run) ORDER BY group_id, answer_index
                """)
            let totals = try rows.map { try $0.decode("r_total", as: Double.self) }
            #expect(totals.allSatisfy { (0...2).contains($0) })
            #expect(try rows.allSatisfy { try $0.decode("policy_version", as: Int.self) == 3 })
            var sums: [String: Double] = [:]
            for row in rows { sums[try row.decode("group_id"), default: 0] += try row.decode("advantage", as: Double.self) }
            #expect(sums.count == groups.count && sums.values.allSatisfy { abs($0) < 1e-9 })
            let garbage = try rows.filter { try $0.decode("answer_index", as: Int.self) == 3 && $0.decode("group_id", as: String.self) != "\(run)-g2" }
            #expect(garbage.count == 4)
            #expect(try garbage.allSatisfy { try $0.decode("r_total", as: Double.self) == 0 && $0.isNull("chosen_letter") })
            let best = try rows.filter { try $0.decode("answer_index", as: Int.self) == 0 && $0.decode("group_id", as: String.self) != "\(run)-g2" }
            #expect(try best.allSatisfy { try $0.decode("r_total", as: Double.self) == 2 && $0.decode("correct", as: Bool.self) })

            // Redelivery: the same rollouts arrive again; the rows stay exactly as they were.
            let snapshot = try rows.map { row in try (0..<row.count).map { try row.decode(at: $0, as: String?.self) } }
            _ = try await producer.sendAll(try groups.map { try PipelineTopics.rollouts.message(key: $0.groupID, value: $0) })
            try await producer.shutdown()
            #expect(try await bench.eventually { counters.snapshot["groups"] == Int64(2 * groups.count) })
            try await Task.sleep(for: .milliseconds(600))
            running.cancel()
            try await running.value
            let again = try await bench.client.query("""
                SELECT group_id, answer_index, r_total, r_format, advantage, chosen_letter, correct, policy_version,
                       scorer_id, scored_at::text AS at
                FROM rewards WHERE run_id = \(run) ORDER BY group_id, answer_index
                """)
            let after = try again.map { row in try (0..<row.count).map { try row.decode(at: $0, as: String?.self) } }
            #expect(after == snapshot, "redelivered groups leave the reward rows unchanged")
            #expect(counters.snapshot["reward_rows"] == Int64(groups.count * texts.count), "no row written twice")
            #expect(counters.snapshot["dead_letters"] == 1)
            print("reward scoring: \(groups.count) groups (\(rows.count) rows) scored, published and written in \(elapsed)")
        }
    }
}
