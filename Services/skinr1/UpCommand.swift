import ArgumentParser
import Foundation
import Logging
import Messaging
import ServiceRuntime
import Store

/// Brings the whole ensemble up on one machine: broker, database, schema, topics, every
/// service as a supervised child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the ensemble: embedded broker and private PostgreSQL unless configured, then every service.",
        discussion: """
            With KAFKA_BOOTSTRAP_SERVERS unset, an embedded Kafka-protocol broker runs inside this \
            process (loopback TCP). With DATABASE_URL unset, a private PostgreSQL cluster is created \
            under the working directory. Services run as child processes; one that dies is reported \
            and restarted. Ctrl-C shuts everything down cleanly.
            """)

    @Option(help: "Working directory for the private database, logs and artifacts.")
    var workdir: String = ".skinr1/run"

    @Option(help: "Rollout worker processes.")
    var rolloutWorkers: Int = 1

    @Option(help: "Reward scorer processes.")
    var scorers: Int = 1

    @Option(help: "Partitions of each product topic (bounds how many workers share a topic).")
    var partitions: Int = 8

    @Option(help: "Seconds to wait for every service to report healthy.")
    var healthyTimeout: Double = 90

    @Flag(help: "Keep the ensemble running until Ctrl-C instead of shutting down once it is verified healthy.")
    var keepRunning = false

    func validate() throws {
        guard rolloutWorkers >= 1, scorers >= 1 else { throw ValidationError("--rollout-workers and --scorers must be at least 1") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
    }

    func run() async throws {
        LoggingSetup.bootstrap(format: .human, level: .info)
        let logger = Logger(label: "skinr1.up")
        let signals = TerminationSignal()
        let environment = ProcessInfo.processInfo.environment
        let root = URL(fileURLWithPath: workdir, isDirectory: true).standardizedFileURL
        let logs = root.appendingPathComponent("logs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        var stack = Teardown(logger: logger)
        do {
            // Database: the configured one, or a private cluster under the working directory.
            let databaseURL: String
            if let configured = environment["DATABASE_URL"], !configured.isEmpty {
                databaseURL = configured
                say("database: DATABASE_URL (\(try PostgresConfiguration(configured)))")
            } else {
                let cluster = try await PrivatePostgres.start(in: root.appendingPathComponent("postgres"), logger: logger)
                stack.database = cluster
                databaseURL = cluster.databaseURL
                say("database: private PostgreSQL in \(cluster.directory.path) on port \(cluster.port)")
            }
            let client = try PostgresClient(url: databaseURL, maxConnections: 2, logger: logger)
            stack.client = client
            let report = try await client.withConnection { try await Migrator(logger: logger).migrate(on: $0) }
            say("schema: \(report.applied.count) migrations applied now, \(report.alreadyApplied.count) before")

            // Broker: the configured cluster, or the embedded one hosted by this process.
            let topics = TopicName.all.map { TopicSpec(name: $0, partitions: partitions) }
            let bootstrap: String
            if let configured = environment["KAFKA_BOOTSTRAP_SERVERS"], !configured.isEmpty {
                bootstrap = configured
                let admin = try KafkaAdmin(configuration: try KafkaConfiguration.fromEnvironment(), logger: logger)
                _ = try await admin.createTopics(topics, timeout: .seconds(30))
                say("broker: KAFKA_BOOTSTRAP_SERVERS (\(configured))")
            } else {
                let broker = try EmbeddedBroker(brokers: 1, defaultPartitions: partitions, logger: logger)
                stack.broker = broker
                _ = try broker.createTopics(topics)
                bootstrap = broker.bootstrapServers
                say("broker: embedded at \(bootstrap)")
            }

            // Services, supervised.
            let runID = "run-" + Self.stamp()
            let supervisor = ChildSupervisor(logger: logger)
            stack.supervisor = supervisor
            let plan = servicePlan()
            for (service, instance) in plan {
                var childEnvironment = environment
                childEnvironment["DATABASE_URL"] = databaseURL
                childEnvironment["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
                childEnvironment["SKINR1_RUN_ID"] = runID
                childEnvironment["SKINR1_INSTANCE_ID"] = instance
                childEnvironment["SKINR1_HEARTBEAT_SECONDS"] = childEnvironment["SKINR1_HEARTBEAT_SECONDS"] ?? "1"
                try supervisor.start(ChildSpec(
                    name: instance, executable: try Self.sibling(service), environment: childEnvironment,
                    logFile: logs.appendingPathComponent("\(instance).log")))
            }
            say("services: \(plan.count) processes started for \(runID); logs in \(logs.path)")

            let healthy = try await waitUntilHealthy(client, expected: Set(plan.map(\.instance)), signals: signals)
            Console.line(ServiceHealth.table(try await ServiceHealth.all(client)))
            if !healthy {
                try await stack.tearDown()
                throw ExitCode(3)
            }
            say("all \(plan.count) services healthy")
            if keepRunning {
                say("running; Ctrl-C to stop (watch with: skinr1 status --database-url \(databaseURL))")
                _ = await signals.wait()
            }
            try await stack.tearDown()
            say("shut down: \(stack.lastSummary ?? "all processes stopped")")
        } catch {
            try? await stack.tearDown()
            throw error
        }
    }

    /// The processes to start: one of each singleton, N rollout workers and M scorers.
    private func servicePlan() -> [(service: String, instance: String)] {
        var plan: [(String, String)] = [("trajectory-synthesizer", "trajectory-synthesizer-1"), ("learner", "learner-1")]
        plan += (1...rolloutWorkers).map { ("rollout-generator", "rollout-generator-\($0)") }
        plan += (1...scorers).map { ("reward-scorer", "reward-scorer-\($0)") }
        plan.append(("evaluator", "evaluator-1"))
        return plan
    }

    private func waitUntilHealthy(_ client: PostgresClient, expected: Set<String>, signals: TerminationSignal) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(healthyTimeout * 1000))
        var lastCount = -1
        while ContinuousClock.now < deadline {
            let rows = try await ServiceHealth.all(client)
            let healthy = Set(rows.filter { $0.healthy }.map(\.instanceID)).intersection(expected)
            if healthy.count != lastCount {
                say("healthy: \(healthy.count)/\(expected.count)")
                lastCount = healthy.count
            }
            if healthy == expected { return true }
            try await Task.sleep(for: .milliseconds(300))
        }
        say("not every service reported healthy within \(healthyTimeout)s; see the logs")
        return false
    }

    private func say(_ line: String) {
        Console.line("up: \(line)")
    }

    static func stamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    /// A service executable installed beside this one.
    static func sibling(_ name: String) throws -> URL {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let url = me.deletingLastPathComponent().appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw ValidationError("the \(name) executable is not beside \(me.path); build every product (swift build)")
        }
        return url
    }
}

/// What `up` started, stopped in reverse order: services, broker, database.
struct Teardown {
    let logger: Logger
    var supervisor: ChildSupervisor?
    var client: PostgresClient?
    var broker: EmbeddedBroker?
    var database: PrivatePostgres?
    var lastSummary: String?

    init(logger: Logger) { self.logger = logger }

    mutating func tearDown() async throws {
        if let supervisor {
            let killed = await supervisor.stopAll(grace: .seconds(20))
            self.supervisor = nil
            if let client {
                let rows = (try? await ServiceHealth.all(client)) ?? []
                let stopped = rows.filter { $0.status == Heartbeat.Status.stopped.rawValue }.count
                lastSummary = "\(stopped)/\(rows.count) services recorded a clean stop" + (killed.isEmpty ? "" : "; killed: \(killed.joined(separator: ", "))")
            }
        }
        if let client { await client.close(); self.client = nil }
        if let broker { broker.shutdown(); self.broker = nil }
        if let database { try await database.stop(); self.database = nil }
    }
}
