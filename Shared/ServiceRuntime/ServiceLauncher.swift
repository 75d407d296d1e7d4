import Foundation
import Logging
import ServiceLifecycle
import Store

/// The common start of every service executable: resolve configuration, install logging,
/// reach the store (migrating it, so a service never runs on an old schema) and run the
/// work under `ServiceHost` with heartbeats.
public enum ServiceLauncher {
    public static func run(
        service: String,
        options: RuntimeOptions,
        work: @escaping @Sendable (ServiceContext, PostgresClient) async throws -> Void
    ) async throws {
        let runtime = try options.resolve()
        if runtime.niceness > 0 { try ProcessPriority.lower(to: runtime.niceness) }
        LoggingSetup.bootstrap(format: runtime.logFormat, level: runtime.logLevel)
        let logger = Logger(label: "skinr1.\(service)")
        let client = try PostgresClient(url: try runtime.requireDatabaseURL(), maxConnections: 4, logger: logger)
        do {
            try await client.withConnection { connection in
                _ = try await Migrator(logger: logger).migrate(on: connection)
            }
            try await ServiceHost.run(service: service, runtime: runtime, heartbeats: StoreHeartbeatSink(client: client)) { context in
                try await work(context, client)
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    /// For a service whose work is driven by others: stay up, keep heartbeating, end on shutdown.
    public static func idleUntilShutdown(_ context: ServiceContext) async throws {
        context.logger.info("ready; waiting for shutdown")
        try? await gracefulShutdown()
    }
}
