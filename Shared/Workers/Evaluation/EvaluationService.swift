import Logging
import NeuralNet
import Pipeline
import ServiceLifecycle
import ServiceRuntime
import Store

/// The evaluator process: `EvaluationWorker` for the run until `evaluation_done`, then
/// idle (heartbeating) until shutdown.
public enum EvaluationService {
    public static func run(_ context: ServiceContext, client: PostgresClient, batchSize: Int, threads: Int,
                           poll: Duration) async throws {
        guard let runID = context.runtime.runID else {
            throw ConfigurationError("the evaluator needs a run: pass --run-id or set SKINR1_RUN_ID")
        }
        NeuralNetThreads.setThreads(threads)
        let run = try await RunRecord.load(id: runID, on: client)
        let counters = context.counters
        let worker = EvaluationWorker(
            run: run, client: client, evaluator: PolicyEvaluator(client: client, logger: context.logger),
            batchSize: batchSize, poll: poll, instanceID: context.runtime.instanceID, logger: context.logger,
            onEvaluated: { result in
                counters.add("versions_evaluated")
                counters.set("last_version", Int64(result.policy.version))
                counters.add("items_answered", Int64(result.outcomes.count))
            })
        do {
            try await cancelWhenGracefulShutdown { try await worker.run() }
        } catch is CancellationError {
            context.logger.info("evaluation stopped by shutdown; a restart resumes with the next version")
            return
        }
        try await ServiceLauncher.idleUntilShutdown(context)
    }
}
