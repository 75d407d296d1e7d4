import Domain
import Foundation
import Logging
import Messaging
import Pipeline
import ServiceLifecycle
import ServiceRuntime
import Store

/// Process-local settings of a reward scorer.
public struct ScoringWorkerSettings: Sendable {
    /// Names the scorer in reward rows and logs.
    public var scorerID: String
    /// Reward rows written per INSERT; reaching it flushes.
    public var rowBatch: Int
    /// Longest a scored group waits for its rows to be written (and its offset committed).
    public var flushInterval: Duration

    public init(scorerID: String, rowBatch: Int = 64, flushInterval: Duration = .milliseconds(500)) {
        self.scorerID = scorerID
        self.rowBatch = max(1, rowBatch)
        self.flushInterval = flushInterval
    }
}

/// A reward scorer (METHOD.md 5 and 6.2, pipeline stage 4): reads rollout groups, scores each
/// answer strictly with R_total = R_format + R_gran + R_malignancy against the item the
/// group carries, normalises the group's advantages, publishes the scored group, writes
/// one `rewards` row per answer in batches, and commits offsets only once both the
/// publication and the rows are durable. What cannot be read goes to the dead-letter topic.
public final class ScoringWorker: Sendable {
    public let runID: String
    private let client: PostgresClient
    private let kafka: KafkaConfiguration
    private let settings: ScoringWorkerSettings
    private let counters: ServiceCounters
    private let logger: Logger

    public init(runID: String, client: PostgresClient, kafka: KafkaConfiguration, settings: ScoringWorkerSettings,
                counters: ServiceCounters = ServiceCounters(), logger: Logger) {
        self.runID = runID
        self.client = client
        self.kafka = kafka
        self.settings = settings
        self.counters = counters
        var logger = logger
        logger[metadataKey: "scorer"] = "\(settings.scorerID)"
        self.logger = logger
    }

    /// The consumer group every scorer of the run joins.
    public static func consumerGroup(runID: String) -> String { "skinr1.\(runID).scorer" }

    /// Scores one group: strict parsing per answer (a malformed answer earns 0), group
    /// advantages. Throws `UnprocessableMessage` for a group the learner could not use.
    public static func score(_ group: RolloutGroupMessage, scorerID: String) throws -> ScoredGroupMessage {
        guard !group.answers.isEmpty else {
            throw UnprocessableMessage("rollout group \(group.groupID) has no answers")
        }
        for (index, answer) in group.answers.enumerated() where answer.behaviourLogProbs.count != answer.tokens.count {
            throw UnprocessableMessage("rollout group \(group.groupID), answer \(index): \(answer.tokens.count) tokens "
                                       + "but \(answer.behaviourLogProbs.count) behaviour log-probabilities")
        }
        let rewards = group.answers.map { SkinR1Reward.score(answer: $0.text, item: group.prompt.item, mode: .strict) }
        let advantages = GroupAdvantage.advantages(rewards.map(\.total))
        return ScoredGroupMessage(rollout: group, rewards: rewards, advantages: advantages, scorerID: scorerID)
    }

    /// Runs until cancelled or graceful shutdown. Groups scored but not yet written are
    /// left uncommitted (they are scored again after a restart; rows and ids make that harmless).
    public func run() async throws {
        let consumer = try KafkaConsumer(
            configuration: kafka,
            consumer: GroupMembership.consumer(groupID: Self.consumerGroup(runID: runID)),
            topics: [PipelineTopics.rollouts.name], logger: logger)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        let deadLetters = DeadLetterPublisher(producer: producer, logger: logger)
        var pendingRows: [RewardRow] = []
        var pendingMessages: [KafkaConsumerMessage] = []
        var oldestPending: ContinuousClock.Instant? = nil
        var failure: (any Error)? = nil

        do {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let wait: Duration
                if let oldest = oldestPending {
                    wait = max(.milliseconds(1), settings.flushInterval - (ContinuousClock.now - oldest))
                } else {
                    wait = settings.flushInterval
                }
                let fetched = try await cancelWhenGracefulShutdown {
                    try await consumer.nextBatch(maxCount: max(1, self.settings.rowBatch), maxWait: wait)
                }
                guard let fetched else { break }
                if !fetched.isEmpty {
                    let rows = try await handle(fetched, producer: producer, deadLetters: deadLetters)
                    pendingRows += rows
                    pendingMessages += fetched
                    if oldestPending == nil { oldestPending = .now }
                }
                let due = oldestPending.map { ContinuousClock.now - $0 >= settings.flushInterval } ?? false
                if !pendingMessages.isEmpty && (pendingRows.count >= settings.rowBatch || due) {
                    // Its own task: a flush that started finishes even if the loop is cancelled.
                    let rows = pendingRows, messages = pendingMessages
                    try await Task { try await self.flush(rows: rows, messages: messages, consumer: consumer) }.value
                    pendingRows.removeAll()
                    pendingMessages.removeAll()
                    oldestPending = nil
                }
            }
        } catch is CancellationError {
            // Stopped while waiting for rollouts; the groups in hand are flushed below.
        } catch {
            failure = error
        }
        if failure == nil && !pendingMessages.isEmpty {
            // Graceful stop: the groups in hand are published, so writing their rows and
            // committing them is finishing work, not starting new.
            let rows = pendingRows, messages = pendingMessages
            do {
                try await Task { try await self.flush(rows: rows, messages: messages, consumer: consumer) }.value
            } catch {
                logger.warning("rows of scored groups not written at shutdown; they will be scored again",
                               metadata: ["error": "\(error)", "groups": "\(messages.count)"])
            }
        }
        await consumer.close()
        do { try await producer.shutdown(timeout: .seconds(10)) } catch {
            logger.warning("producer shut down with undelivered messages", metadata: ["error": "\(error)"])
        }
        if let failure { throw failure }
    }

    /// Scores and publishes the groups of `messages`; returns their reward rows. Messages of
    /// other runs are passed over, unreadable ones dead-lettered (both committed in turn).
    private func handle(_ messages: [KafkaConsumerMessage], producer: KafkaProducer,
                        deadLetters: DeadLetterPublisher) async throws -> [RewardRow] {
        var scored: [ScoredGroupMessage] = []
        for message in messages {
            do {
                let group = try PipelineTopics.rollouts.decode(message.value)
                guard group.prompt.runID == runID else { continue }
                scored.append(try Self.score(group, scorerID: settings.scorerID))
            } catch let error where error is EnvelopeError || error is UnprocessableMessage {
                try await deadLetters.publish(message, error: error)
                counters.add("dead_letters")
            }
        }
        guard !scored.isEmpty else { return [] }
        _ = try await producer.sendAll(scored.map { try PipelineTopics.scored.message(key: $0.rollout.groupID, value: $0) })
        counters.add("groups", Int64(scored.count))
        counters.add("answers", Int64(scored.reduce(0) { $0 + $1.rewards.count }))
        for group in scored {
            let totals = group.rewards.map(\.total)
            logger.debug("group scored", metadata: [
                "group": "\(group.rollout.groupID)", "policy.version": "\(group.rollout.policyVersion)",
                "reward.mean": "\(totals.reduce(0, +) / Double(max(1, totals.count)))",
            ])
        }
        return scored.flatMap { RewardRow.rows(of: $0, runID: runID) }
    }

    private func flush(rows: [RewardRow], messages: [KafkaConsumerMessage], consumer: KafkaConsumer) async throws {
        let written = try await RewardRow.insert(rows, on: client)
        counters.add("reward_rows", Int64(written))
        try await consumer.commitProcessed(messages)
    }
}

/// One row of `rewards`: an answer's reward components and advantage.
public struct RewardRow: Sendable, Equatable {
    public var groupID: String
    public var answerIndex: Int
    public var runID: String
    public var policyVersion: Int
    public var reward: RewardBreakdown
    public var advantage: Double
    public var scorerID: String

    public static func rows(of group: ScoredGroupMessage, runID: String) -> [RewardRow] {
        zip(group.rewards, group.advantages).enumerated().map { index, pair in
            RewardRow(groupID: group.rollout.groupID, answerIndex: index, runID: runID,
                      policyVersion: group.rollout.policyVersion, reward: pair.0, advantage: pair.1,
                      scorerID: group.scorerID)
        }
    }

    /// Multi-row INSERT ... ON CONFLICT DO NOTHING (the first score of an answer stands, so
    /// redelivery changes nothing), in chunks that stay well below the bind limit.
    /// Returns the rows actually inserted.
    @discardableResult
    public static func insert(_ rows: [RewardRow], on client: PostgresClient, chunk: Int = 1_000) async throws -> Int {
        var inserted = 0
        var start = 0
        while start < rows.count {
            let part = rows[start..<min(rows.count, start + chunk)]
            var query: SQLQuery = """
                INSERT INTO rewards (group_id, answer_index, run_id, policy_version, r_format, r_granularity,
                                     r_malignancy, r_total, advantage, chosen_letter, correct, scorer_id) VALUES
                """
            for (offset, row) in part.enumerated() {
                let r = row.reward
                query = query + (offset == 0 ? "" : ",") + """
                    (\(row.groupID), \(row.answerIndex), \(row.runID), \(row.policyVersion), \(r.format),
                     \(r.granularity), \(r.malignancy), \(r.total), \(row.advantage), \(r.chosenLetter),
                     \(r.correct), \(row.scorerID))
                    """
            }
            inserted += try await client.execute(query + " ON CONFLICT (group_id, answer_index) DO NOTHING")
            start += chunk
        }
        return inserted
    }
}
