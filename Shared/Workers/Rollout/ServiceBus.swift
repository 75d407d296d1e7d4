import Foundation
import Messaging
import ServiceRuntime

/// The Kafka connection of a pipeline service: every `KAFKA_*` setting of the environment
/// (security, client id...), with the bootstrap servers the runtime resolved (flag or
/// environment) taking precedence.
public enum PipelineServiceBus {
    public static func configuration(for runtime: RuntimeConfiguration,
                                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KafkaConfiguration {
        let servers = try runtime.requireBootstrapServers()
        var environment = environment
        environment["KAFKA_BOOTSTRAP_SERVERS"] = servers
        return try KafkaConfiguration.fromEnvironment(environment)
    }
}
