import Foundation
import Logging
import Pipeline
import Store

/// Stage 5 of the pipeline: follows the run's policy versions (polling `policy_versions`,
/// which the learner writes before it publishes to the topic) and evaluates the base, the
/// SFT result, RL versions at every `evalEvery` steps and the final version; then marks
/// `evaluation_done`. A version with complete results is never evaluated again, so a
/// restarted evaluator resumes where it stopped. Any number of evaluators can share a run:
/// each claims a version before decoding it (`eval_claims`) and passes by versions others
/// hold while they heartbeat, taking over those of an instance silent for `claimStaleAfter`.
public struct EvaluationWorker: Sendable {
    let record: RunRecord
    let store: EvaluationStore
    let evaluator: PolicyEvaluator
    let client: PostgresClient
    let batchSize: Int
    let poll: Duration
    let instanceID: String
    let claimStaleAfter: Duration
    let logger: Logger
    let onEvaluated: @Sendable (VersionEvaluation) -> Void

    public init(run: RunRecord, client: PostgresClient, evaluator: PolicyEvaluator, batchSize: Int,
                poll: Duration = .seconds(1), instanceID: String, claimStaleAfter: Duration = .seconds(15),
                logger: Logger, onEvaluated: @escaping @Sendable (VersionEvaluation) -> Void = { _ in }) {
        self.record = run
        self.client = client
        self.store = EvaluationStore(client: client)
        self.evaluator = evaluator
        self.batchSize = batchSize
        self.poll = poll
        self.instanceID = instanceID
        self.claimStaleAfter = claimStaleAfter
        self.logger = logger
        self.onEvaluated = onEvaluated
    }

    /// The versions worth evaluating among those published: version 0 (the base), the SFT
    /// result, RL versions whose step is a positive multiple of `evalEvery`, and the final
    /// version. RL step 0 is left out unless final: its adapter starts at zero (B = 0), so
    /// it answers exactly as the version before it.
    public static func plan(_ versions: [PublishedPolicy], evalEvery: Int, finalVersion: Int?) -> [PublishedPolicy] {
        versions.filter { v in
            v.version == 0 || v.stage == "sft" || v.version == finalVersion
                || (v.stage == "rl" && v.step > 0 && evalEvery > 0 && v.step % evalEvery == 0)
        }.sorted { $0.version < $1.version }
    }

    /// Evaluates until the final version is done, then marks `evaluation_done` and returns.
    /// Cancellation ends the wait between versions and the decoding between batches.
    public func run() async throws {
        if try await record.milestone(.evaluationDone, on: client) != nil {
            logger.info("evaluation already done for this run")
            return
        }
        _ = try await record.waitFor(.evalSuitesBuilt, on: client, poll: poll)
        let items = try await store.items(for: record.config)
        logger.info("evaluation suites loaded", metadata: [
            "eval.items": "\(items.count)",
            "eval.suites": "\(Dictionary(grouping: items, by: \.suite.rawValue).mapValues(\.count))"])
        while true {
            try Task.checkCancellation()
            let finalVersion = try await record.milestone(.trainingDone, on: client)?["version"]
            let versions = try await store.versions(runID: record.id)
            // Read each time: other evaluators of the run write results too.
            let evaluated = try await store.evaluatedVersions(runID: record.id)
            let todo = Self.plan(versions, evalEvery: record.config.evalEvery, finalVersion: finalVersion)
                .filter { !evaluated.contains($0.version) }
            if let next = try await firstClaimed(todo) {
                let result = try await evaluator.evaluate(next, items: items, maxNewTokens: record.config.maxNewTokens,
                                                          batchSize: batchSize)
                try await store.write(runID: record.id, policy: next, values: result.values)
                log(result)
                onEvaluated(result)
                continue
            }
            if let finalVersion, todo.isEmpty, evaluated.contains(finalVersion) {
                try await record.mark(.evaluationDone, detail: ["version": finalVersion], on: client)
                logger.info("evaluation done", metadata: ["policy.version": "\(finalVersion)"])
                return
            }
            try await Task.sleep(for: poll)
        }
    }

    /// The oldest of `todo` this instance could claim, nil when others hold all of them.
    private func firstClaimed(_ todo: [PublishedPolicy]) async throws -> PublishedPolicy? {
        for candidate in todo {
            guard let claim = try await store.claim(runID: record.id, version: candidate.version, instanceID: instanceID,
                                                    staleAfter: claimStaleAfter) else { continue }
            if let silent = claim.takenFrom {
                logger.warning("claim taken over from a silent evaluator", metadata: [
                    "policy.version": "\(candidate.version)", "eval.previous_instance": "\(silent)",
                    "eval.stale_after_seconds": "\(claimStaleAfter.components.seconds)"])
            }
            return candidate
        }
        return nil
    }

    private func log(_ result: VersionEvaluation) {
        func value(_ suite: String, _ metric: EvaluationMetric) -> String {
            result.values.first { $0.suite == suite && $0.datasetID == EvaluationMetrics.pooled && $0.metric == metric }
                .map { String(format: "%.3f", $0.value) } ?? "-"
        }
        logger.info("version evaluated", metadata: [
            "policy.version": "\(result.policy.version)", "policy.stage": "\(result.policy.stage)",
            "policy.step": "\(result.policy.step)", "eval.items": "\(result.outcomes.count)",
            "eval.disease_accuracy": "\(value("disease", .accuracy))", "eval.ood_accuracy": "\(value("ood", .accuracy))",
            "eval.condition_macro_f1": "\(value("lesion_condition", .macroF1))",
            "eval.format_failures": "\(value(EvaluationMetrics.pooled, .formatFailureRate))",
            "eval.decode_seconds": "\(String(format: "%.2f", result.decodeSeconds))",
            "eval.load_seconds": "\(String(format: "%.2f", result.loadSeconds))",
        ])
    }
}
