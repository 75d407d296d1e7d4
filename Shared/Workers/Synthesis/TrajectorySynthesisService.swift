import Catalogue
import Domain
import Foundation
import Knowledge
import Logging
import Messaging
import Pipeline
import ServiceLifecycle
import ServiceRuntime
import Store

/// The trajectory-synthesizer process: one pass of `TrajectorySynthesisWorker` for the run,
/// then idle (heartbeating) until shutdown.
public enum TrajectorySynthesisService {
    public static func run(_ context: ServiceContext, client: PostgresClient,
                           comparator: any Domain.Comparator = TemplateComparator()) async throws {
        guard let runID = context.runtime.runID else {
            throw ConfigurationError("the trajectory synthesizer needs a run: pass --run-id or set SKINR1_RUN_ID")
        }
        let run = try await RunRecord.load(id: runID, on: client)
        let knowledge = try KnowledgeBase.load()
        var producer: KafkaProducer? = nil
        if run.config.arm.runsSFT || run.config.arm.runsRL {
            producer = try KafkaProducer(configuration: try kafkaConfiguration(context.runtime, clientID: "skinr1.synthesizer"),
                                         producer: PromptOrder.producer, logger: context.logger)
        }
        let worker = TrajectorySynthesisWorker(run: run, client: client, producer: producer, knowledge: knowledge,
                                               comparator: comparator, logger: context.logger)
        do {
            // Only a run still in synthesis shows it; a restart later leaves the learner's stage alone.
            if try await run.milestone(.promptsPublished, on: client) == nil {
                try await run.setStage("synthesis", on: client)
            }
            let report = try await cancelWhenGracefulShutdown { try await worker.prepare() }
            context.counters.set("eval_items", Int64(report.evalItems))
            context.counters.set("trajectories_published", Int64(report.trajectoriesPublished))
            context.counters.set("prompts_published", Int64(report.promptsPublished))
            if !report.skippedStages.isEmpty {
                context.logger.info("stages already done", metadata: ["stages": "\(report.skippedStages.map(\.rawValue))"])
            }
        } catch is CancellationError {
            try? await producer?.shutdown(timeout: .seconds(10))
            context.logger.info("synthesis stopped by shutdown; a restart redoes the unfinished stage")
            return
        } catch {
            try? await producer?.shutdown(timeout: .seconds(10))
            throw error
        }
        try await producer?.shutdown(timeout: .seconds(30))
        try await ServiceLauncher.idleUntilShutdown(context)
    }

    /// The comparator of an OpenAI-compatible chat-completions endpoint (METHOD.md 3.3).
    public static func endpointComparator(baseURL: URL, model: String, apiKey: String?) -> any Domain.Comparator {
        EndpointComparator(baseURL: baseURL, model: model, apiKey: apiKey)
    }

    /// Kafka settings from the environment's `KAFKA_*` variables, with the bootstrap
    /// servers the runtime resolved (flag or environment).
    static func kafkaConfiguration(_ runtime: RuntimeConfiguration, clientID: String) throws -> KafkaConfiguration {
        let servers = try runtime.requireBootstrapServers()
        var configuration = (try? KafkaConfiguration.fromEnvironment()) ?? KafkaConfiguration(bootstrapServers: servers)
        configuration.bootstrapServers = servers
        configuration.clientID = clientID
        return configuration
    }
}
