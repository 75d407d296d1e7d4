import Domain
import Foundation
import Pipeline
import ServiceRuntime
import Store

/// Reads the items a run evaluates and writes what the evaluation found.
public struct EvaluationStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// The run's evaluation items: those built with the run's seed on the images the
    /// catalogue holds now, at most `evalItemsPerSuite` per suite and dataset chosen as the
    /// synthesizer chose them (`eval_items` is shared by runs; other seeds and sizes may sit
    /// beside these).
    public func items(for config: RunConfig) async throws -> [EvaluationSuiteItem] {
        let rows = try await client.query("""
            SELECT e.id, e.suite, e.dataset_id, e.item::text AS item
            FROM eval_items e JOIN cases c ON c.id = e.case_id
            WHERE e.item->>'seed' = \(String(config.seed)) AND c.image_sha256 = e.item->>'imageSHA'
            ORDER BY e.id
            """)
        let decoder = JSONDecoder()
        let items = try rows.map { row -> EvaluationSuiteItem in
            let id: String = try row.decode("id")
            let suiteName: String = try row.decode("suite")
            guard let suite = EvaluationSuite(rawValue: suiteName) else {
                throw EvaluationError("eval item \(id): unknown suite '\(suiteName)'")
            }
            let text: String = try row.decode("item")
            do {
                let item = try decoder.decode(QuestionItem.self, from: Data(text.utf8))
                return EvaluationSuiteItem(suite: suite, datasetID: try row.decode("dataset_id"), item: item)
            } catch {
                throw EvaluationError("eval item \(id): the stored item is not a question: \(error)")
            }
        }
        return EvaluationSelection.select(items, seed: config.seed, limit: config.evalItemsPerSuite)
    }

    /// Every policy version the learner has published for the run, oldest first.
    public func versions(runID: String) async throws -> [PublishedPolicy] {
        try await client.query("""
            SELECT version, step, stage, base_sha256, adapter_sha256, learner_incarnation, admission_capacity
            FROM policy_versions WHERE run_id = \(runID) ORDER BY version
            """).map { row in
            PublishedPolicy(version: try row.decode("version"), step: try row.decode("step"),
                            stage: try row.decode("stage"), baseSHA: try row.decode("base_sha256"),
                            adapterSHA: try row.decode("adapter_sha256", as: String?.self),
                            learnerIncarnation: try row.decode("learner_incarnation"),
                            admissionCapacity: try row.decode("admission_capacity"))
        }
    }

    /// One version of the run, or an error naming the versions there are.
    public func version(_ version: Int, runID: String) async throws -> PublishedPolicy {
        let all = try await versions(runID: runID)
        guard let found = all.first(where: { $0.version == version }) else {
            let known = all.map { String($0.version) }.joined(separator: ", ")
            throw EvaluationError("run \(runID) has no policy version \(version) (published: \(known.isEmpty ? "none" : known))")
        }
        return found
    }

    /// Versions of the run whose evaluation is complete: the pooled format-failure row is
    /// written in the same transaction as every other value of the version.
    public func evaluatedVersions(runID: String) async throws -> Set<Int> {
        let rows = try await client.query("""
            SELECT version FROM eval_results
            WHERE run_id = \(runID) AND suite = \(EvaluationMetrics.pooled) AND dataset_id = \(EvaluationMetrics.pooled)
              AND metric = 'format_failure_rate'
            """)
        return Set(try rows.map { try $0.decode("version", as: Int.self) })
    }

    /// Claims `version` of the run for `instanceID`: non-nil when this instance holds it now,
    /// because nobody had claimed it, it held it already (a restart under the same instance
    /// id), or its claimant has not heartbeaten for `staleAfter` and claimed it at least
    /// that long ago (then `takenFrom` names that claimant). A claim is never given up: once
    /// the version's results are written nobody looks for it again.
    public func claim(runID: String, version: Int, instanceID: String, staleAfter: Duration) async throws -> EvaluationClaim? {
        let rows = try await client.query("""
            WITH before AS (SELECT instance_id FROM eval_claims WHERE run_id = \(runID) AND version = \(version))
            INSERT INTO eval_claims AS c (run_id, version, instance_id) VALUES (\(runID), \(version), \(instanceID))
            ON CONFLICT (run_id, version) DO UPDATE SET instance_id = EXCLUDED.instance_id, claimed_at = now()
            WHERE c.instance_id = EXCLUDED.instance_id
               OR \(sql: StoreHeartbeatSink.holderIsGone(instanceColumn: "c.instance_id", heldSinceColumn: "c.claimed_at",
                                                        staleAfter: staleAfter))
            RETURNING (SELECT instance_id FROM before) AS previous
            """)
        guard let row = rows.first else { return nil }
        let previous = try row.decode("previous", as: String?.self)
        return EvaluationClaim(takenFrom: previous == instanceID ? nil : previous)
    }

    /// Upserts every value of one version in one transaction.
    public func write(runID: String, policy: PublishedPolicy, values: [SuiteMetricValue]) async throws {
        try await client.transaction { tx in
            for value in values {
                try await tx.execute("""
                    INSERT INTO eval_results (run_id, version, stage, step, suite, dataset_id, metric, value, items)
                    VALUES (\(runID), \(policy.version), \(policy.stage), \(policy.step), \(value.suite), \(value.datasetID),
                            \(value.metric.rawValue), \(value.value), \(value.items))
                    ON CONFLICT (run_id, version, suite, dataset_id, metric) DO UPDATE
                    SET stage = EXCLUDED.stage, step = EXCLUDED.step, value = EXCLUDED.value, items = EXCLUDED.items,
                        created_at = now()
                    """)
            }
        }
    }
}

/// A version this evaluator holds.
public struct EvaluationClaim: Sendable, Equatable {
    /// The silent instance it was taken from; nil when it was free or already ours.
    public var takenFrom: String?
}

public struct EvaluationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
