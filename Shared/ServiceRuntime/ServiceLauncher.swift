import Foundation
import Logging
import ServiceLifecycle

/// The common start of every service executable: resolve configuration, install logging,
/// reach the store (migrating it) and run the work under `ServiceHost`.
public enum ServiceLauncher {
    public static func run(
        service: String,
        options: RuntimeOptions,
        work: @escaping @Sendable (ServiceContext) async throws -> Void
    ) async throws {
        let runtime = try options.resolve()
        LoggingSetup.bootstrap(format: runtime.logFormat, level: runtime.logLevel)
        try await ServiceHost.run(service: service, runtime: runtime, heartbeats: nil, work: work)
    }

    /// For a service whose work is driven by others: stay up, keep heartbeating, end on shutdown.
    public static func idleUntilShutdown(_ context: ServiceContext) async throws {
        context.logger.info("ready; waiting for shutdown")
        try? await gracefulShutdown()
    }
}
