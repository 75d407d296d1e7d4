import BLASKernel
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Named counters a service reports with each heartbeat (messages handled, retries...).
public final class ServiceCounters: Sendable {
    private let values = Mutex<[String: Int64]>([:])

    public init() {}

    public func add(_ name: String, _ amount: Int64 = 1) {
        values.withLock { $0[name, default: 0] += amount }
    }

    public func set(_ name: String, _ value: Int64) {
        values.withLock { $0[name] = value }
    }

    public var snapshot: [String: Int64] { values.withLock { $0 } }
}

/// The state of one process as it appears in `service_heartbeats`.
public struct Heartbeat: Sendable, Equatable {
    public enum Status: String, Sendable { case starting, running, stopping, stopped, failed }
    public var service: String
    public var instanceID: String
    public var host: String
    public var pid: Int
    public var version: String
    public var startedAt: Date
    public var status: Status
    public var counters: [String: Int64]
}

/// Where heartbeats go; the store implements it.
public protocol HeartbeatSink: Sendable {
    func record(_ heartbeat: Heartbeat) async throws
}

/// What a service's work receives from the host.
public struct ServiceContext: Sendable {
    public let service: String
    public let runtime: RuntimeConfiguration
    public let logger: Logger
    public let counters: ServiceCounters
}

/// The product's version, reported in heartbeats and logs.
public enum ProductVersion {
    public static let current = "0.1.0"
}

/// Runs one service process: logging, the BLAS kernel line, heartbeats and the work,
/// under one `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT.
public enum ServiceHost {
    public static func run(
        service: String,
        runtime: RuntimeConfiguration,
        heartbeats: (any HeartbeatSink)?,
        work: @escaping @Sendable (ServiceContext) async throws -> Void
    ) async throws {
        var logger = Logger(label: "skinr1.\(service)")
        logger[metadataKey: LogKey.service] = "\(service)"
        logger[metadataKey: LogKey.instance] = "\(runtime.instanceID)"
        logger.info("starting", metadata: [LogKey.blasKernel: "\(BLASKernelSelection.summary)",
                                           LogKey.niceness: "\(ProcessPriority.current)"])

        let counters = ServiceCounters()
        let context = ServiceContext(service: service, runtime: runtime, logger: logger, counters: counters)
        let identity = Heartbeat(
            service: service, instanceID: runtime.instanceID, host: runtime.host, pid: runtime.pid,
            version: ProductVersion.current, startedAt: Date(), status: .starting, counters: [:])

        var services: [any Service] = [WorkService(context: context, work: work)]
        if let heartbeats {
            services.append(HeartbeatService(sink: heartbeats, identity: identity, interval: runtime.heartbeatInterval,
                                              counters: counters, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

/// Runs the service's work; when the work ends, the group shuts down.
struct WorkService: Service {
    let context: ServiceContext
    let work: @Sendable (ServiceContext) async throws -> Void

    func run() async throws {
        try await work(context)
    }
}

/// Writes a heartbeat every interval, and a last one saying how the process ended.
struct HeartbeatService: Service {
    let sink: any HeartbeatSink
    let identity: Heartbeat
    let interval: Duration
    let counters: ServiceCounters
    let logger: Logger

    func run() async throws {
        var beat = identity
        beat.status = .running
        // Sleeps end early on graceful shutdown; the loop then writes the final beat.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            beat.counters = counters.snapshot
            await write(beat)
            let pause = interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
        beat.status = .stopped
        beat.counters = counters.snapshot
        await write(beat)
    }

    private func write(_ beat: Heartbeat) async {
        do {
            try await sink.record(beat)
        } catch {
            // A missed heartbeat is not fatal: the store reconnects and the next one lands.
            logger.warning("heartbeat not recorded", metadata: [LogKey.error: "\(error)"])
        }
    }
}
