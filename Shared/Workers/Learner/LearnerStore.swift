import Foundation
import Messaging
import Pipeline
import PolicyRuntime
import Store

/// One row of `learner_steps`: what a step reports (issue 5; METHOD.md 6.3).
public struct LearnerStepMetrics: Sendable, Equatable {
    public var stage: String
    public var step: Int
    public var version: Int
    public var loss: Double
    public var kl: Double?
    public var clipFraction: Double?
    public var rewardMean: Double?
    public var rewardStd: Double?
    public var formatMean: Double?
    public var granularityMean: Double?
    public var malignancyMean: Double?
    public var advantageStd: Double?
    public var groups: Int?
    public var zeroVarianceGroups: Int?
    public var lagMin: Int?
    public var lagMean: Double?
    public var lagMax: Int?
    public var droppedStale: Int?
    public var truncatedWeightFraction: Double?
    public var gradNorm: Double
    public var learningRate: Double
    public var tokensPerSecond: Double
    public var waitFraction: Double
}

/// A learner checkpoint as `checkpoints` holds it.
struct StoredCheckpoint: Sendable {
    var step: Int
    var stage: String
    var version: Int
    var baseSHA: String
    var adapterSHA: String?
    var optimizerSHA: String?
    var referenceSHA: String?
    var rngState: UInt64
    var offsets: [KafkaTopicPartitionOffset]
}

/// Offsets as stored in `checkpoints.kafka_offsets`: the next offset to read per partition.
struct StoredOffset: Codable, Sendable {
    var topic: String
    var partition: Int32
    var offset: Int64
}

/// The learner's reads and writes of run state, all idempotent (upserts on primary keys),
/// so that a restarted learner may repeat any of them.
struct LearnerStore: Sendable {
    let client: PostgresClient
    let runID: String

    func insertVersion(_ message: PolicyVersionMessage, on db: some PostgresQueryable) async throws {
        try await db.execute("""
            INSERT INTO policy_versions (run_id, version, step, stage, base_sha256, adapter_sha256, learner_incarnation, admission_capacity)
            VALUES (\(runID), \(message.version), \(message.step), \(message.stage.rawValue), \(message.baseSHA),
                    \(message.adapterSHA), \(message.learnerIncarnation), \(message.admissionCapacity))
            ON CONFLICT (run_id, version) DO UPDATE SET
                step = EXCLUDED.step, stage = EXCLUDED.stage, base_sha256 = EXCLUDED.base_sha256,
                adapter_sha256 = EXCLUDED.adapter_sha256, learner_incarnation = EXCLUDED.learner_incarnation,
                admission_capacity = EXCLUDED.admission_capacity, created_at = now()
            """)
    }

    func insertVersion(_ message: PolicyVersionMessage) async throws {
        try await client.withConnection { try await insertVersion(message, on: $0) }
    }

    func insertStep(_ metrics: LearnerStepMetrics) async throws {
        try await client.withConnection { try await insertStep(metrics, on: $0) }
    }

    /// The base blob of a published version, or nil when it is not published.
    func baseSHA(ofVersion version: Int) async throws -> String? {
        try await client.query("""
            SELECT base_sha256 FROM policy_versions WHERE run_id = \(runID) AND version = \(version)
            """).first?.decode("base_sha256")
    }

    func insertStep(_ m: LearnerStepMetrics, on db: some PostgresQueryable) async throws {
        try await db.execute("""
            INSERT INTO learner_steps (run_id, stage, step, version, loss, kl, clip_fraction, reward_mean, reward_std,
                format_mean, granularity_mean, malignancy_mean, advantage_std, groups, zero_variance_groups,
                lag_min, lag_mean, lag_max, dropped_stale, truncated_weight_fraction, grad_norm, learning_rate,
                tokens_per_second, wait_fraction)
            VALUES (\(runID), \(m.stage), \(m.step), \(m.version), \(m.loss), \(m.kl), \(m.clipFraction), \(m.rewardMean),
                \(m.rewardStd), \(m.formatMean), \(m.granularityMean), \(m.malignancyMean), \(m.advantageStd), \(m.groups),
                \(m.zeroVarianceGroups), \(m.lagMin), \(m.lagMean), \(m.lagMax), \(m.droppedStale),
                \(m.truncatedWeightFraction), \(m.gradNorm), \(m.learningRate), \(m.tokensPerSecond), \(m.waitFraction))
            ON CONFLICT (run_id, stage, step) DO UPDATE SET
                version = EXCLUDED.version, loss = EXCLUDED.loss, kl = EXCLUDED.kl, clip_fraction = EXCLUDED.clip_fraction,
                reward_mean = EXCLUDED.reward_mean, reward_std = EXCLUDED.reward_std, format_mean = EXCLUDED.format_mean,
                granularity_mean = EXCLUDED.granularity_mean, malignancy_mean = EXCLUDED.malignancy_mean,
                advantage_std = EXCLUDED.advantage_std, groups = EXCLUDED.groups,
                zero_variance_groups = EXCLUDED.zero_variance_groups, lag_min = EXCLUDED.lag_min,
                lag_mean = EXCLUDED.lag_mean, lag_max = EXCLUDED.lag_max, dropped_stale = EXCLUDED.dropped_stale,
                truncated_weight_fraction = EXCLUDED.truncated_weight_fraction, grad_norm = EXCLUDED.grad_norm,
                learning_rate = EXCLUDED.learning_rate, tokens_per_second = EXCLUDED.tokens_per_second,
                wait_fraction = EXCLUDED.wait_fraction, created_at = now()
            """)
    }

    /// Marks the groups a step used (and clears any earlier drop of the same id). The row is
    /// written whole when the rollout worker has not written it yet.
    func markUsed(_ used: [(group: RolloutGroupMessage, lag: Int)], step: Int, on db: some PostgresQueryable) async throws {
        for (group, lag) in used {
            try await db.execute(RolloutGroupRows.mark(group, runID: runID, lag: lag, usedAtStep: step, droppedReason: nil))
        }
    }

    func markDropped(_ dropped: [(group: RolloutGroupMessage, lag: Int)], reason: String, on db: some PostgresQueryable) async throws {
        for (group, lag) in dropped {
            try await db.execute(RolloutGroupRows.mark(group, runID: runID, lag: lag, usedAtStep: nil, droppedReason: reason))
        }
    }

    /// Groups used by steps up to `step` (those the checkpoint's weights include).
    func groupsUsed(throughStep step: Int) async throws -> Set<String> {
        let rows = try await client.query("""
            SELECT group_id FROM rollout_groups WHERE run_id = \(runID) AND used_at_step IS NOT NULL AND used_at_step <= \(step)
            """)
        return Set(try rows.map { try $0.decode("group_id") })
    }

    /// Writes a checkpoint and its optimizer blob in one transaction. `adapterSHA` names an
    /// adapter already stored (GRPO stores each version's adapter with the version).
    func writeCheckpoint(step: Int, stage: String, version: Int, baseSHA: String, referenceSHA: String?,
                         adapterSHA: String?, optimizerBytes: [UInt8]?, rngState: UInt64,
                         offsets: [KafkaTopicPartitionOffset], incarnation: String) async throws {
        let stored = offsets.map { StoredOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset) }
            .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        let rng = ["state": String(rngState)]
        let runID = self.runID
        try await client.transaction { tx in
            var optimizerSHA: String? = nil
            if let optimizerBytes {
                optimizerSHA = try await BlobStore.put(optimizerBytes, mediaType: PolicyArtifacts.optimizerMediaType, on: tx)
            }
            try await tx.execute("""
                INSERT INTO checkpoints (run_id, step, stage, version, base_sha256, adapter_sha256, optimizer_sha256,
                                         reference_sha256, rng_state, kafka_offsets, learner_incarnation)
                VALUES (\(runID), \(step), \(stage), \(version), \(baseSHA), \(adapterSHA), \(optimizerSHA),
                        \(referenceSHA), \(json: rng), \(json: stored), \(incarnation))
                ON CONFLICT (run_id, stage, step) DO UPDATE SET
                    version = EXCLUDED.version, base_sha256 = EXCLUDED.base_sha256,
                    adapter_sha256 = EXCLUDED.adapter_sha256, optimizer_sha256 = EXCLUDED.optimizer_sha256,
                    reference_sha256 = EXCLUDED.reference_sha256, rng_state = EXCLUDED.rng_state,
                    kafka_offsets = EXCLUDED.kafka_offsets, learner_incarnation = EXCLUDED.learner_incarnation,
                    created_at = now()
                """)
        }
    }

    /// The newest checkpoint of a stage, or nil.
    func latestCheckpoint(stage: String) async throws -> StoredCheckpoint? {
        guard let row = try await client.query("""
            SELECT step, stage, version, base_sha256, adapter_sha256, optimizer_sha256, reference_sha256,
                   rng_state::text AS rng, kafka_offsets::text AS offsets
            FROM checkpoints WHERE run_id = \(runID) AND stage = \(stage) ORDER BY step DESC LIMIT 1
            """).first else { return nil }
        let rngText: String = try row.decode("rng")
        let offsetsText: String = try row.decode("offsets")
        let rng = try JSONDecoder().decode([String: String].self, from: Data(rngText.utf8))
        guard let state = rng["state"].flatMap(UInt64.init) else {
            throw LearnerError("checkpoint of run \(runID) stage \(stage) has an unreadable rng_state: \(rngText)")
        }
        let offsets = try JSONDecoder().decode([StoredOffset].self, from: Data(offsetsText.utf8))
        return StoredCheckpoint(
            step: try row.decode("step"), stage: try row.decode("stage"), version: try row.decode("version"),
            baseSHA: try row.decode("base_sha256"), adapterSHA: try row.decode("adapter_sha256"),
            optimizerSHA: try row.decode("optimizer_sha256"), referenceSHA: try row.decode("reference_sha256"),
            rngState: state,
            offsets: offsets.map { KafkaTopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset) })
    }

    func cachedBase(key: String) async throws -> String? {
        try await client.query("SELECT base_sha256 FROM base_models WHERE key = \(key)").first?.decode("base_sha256")
    }

    func cacheBase(key: String, sha: String, createdBy: String) async throws {
        try await client.execute("""
            INSERT INTO base_models (key, base_sha256, created_by) VALUES (\(key), \(sha), \(createdBy))
            ON CONFLICT (key) DO NOTHING
            """)
    }
}

/// A learner failure; the message says what was wrong and where.
public struct LearnerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
