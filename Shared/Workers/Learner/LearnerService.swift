import Foundation
import Messaging
import NeuralNet
import Pipeline
import ServiceLifecycle
import ServiceRuntime
import Store

/// How the learner executable runs: resolve the run and the bus from the runtime settings,
/// train every stage not yet done, then stay up (heartbeating) until shutdown, so that the
/// supervisor does not mistake a finished learner for a crashed one.
public enum LearnerService {
    public static func run(context: ServiceContext, client: PostgresClient, options: LearnerOptions,
                           threads: Int) async throws {
        NeuralNetThreads.setThreads(threads)
        guard let runID = context.runtime.runID else {
            throw ConfigurationError("the learner needs a run: pass --run-id or set SKINR1_RUN_ID")
        }
        let servers = try context.runtime.requireBootstrapServers()
        var kafka = (try? KafkaConfiguration.fromEnvironment()) ?? KafkaConfiguration(bootstrapServers: servers)
        kafka.bootstrapServers = servers
        kafka.clientID = "skinr1-learner-\(context.runtime.instanceID)"
        let run = try await RunRecord.load(id: runID, on: client)
        context.logger.info("learner starting", metadata: [
            "run.id": "\(runID)", "run.arm": "\(run.config.arm.rawValue)", "run.profile": "\(run.config.profile)",
            "learner.incarnation": "\(options.incarnation)", "threads": "\(threads)", "rl.threads": "\(options.rlThreads.map(String.init) ?? "same")",
        ])
        let worker = LearnerWorker(run: run, client: client, kafka: kafka, options: options,
                                   logger: context.logger, counters: context.counters)
        let summary = try await worker.run()
        if summary.stoppedEarly {
            context.logger.info("learner stopped before the end of training; a restart resumes from the last checkpoint")
            return
        }
        try await ServiceLauncher.idleUntilShutdown(context)
    }
}
