import Backoff
import Catalogue
import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Messaging
import Pipeline
import ServiceRuntime
import Store

/// The infrastructure of `skinr1 up` and `skinr1 experiment`: a database (configured or a
/// private cluster), a broker (configured or embedded in this process), the seeded knowledge
/// and the synthetic data; then runs, each with its own supervised service processes.
actor Ensemble {
    let logger: Logger
    let root: URL
    let logs: URL
    let databaseURL: String
    let bootstrap: String
    let client: PostgresClient
    private var database: PrivatePostgres?
    private var broker: EmbeddedBroker?
    private var supervisor: ChildSupervisor?
    /// Instance ids of the services the current run started (`runID/name`).
    private var instances: Set<String> = []
    private(set) var lastStopSummary: String?

    /// Brings up the database and the broker and applies the migrations.
    init(workdir: String, partitions: Int, logger: Logger) async throws {
        self.logger = logger
        let environment = ProcessInfo.processInfo.environment
        root = URL(fileURLWithPath: workdir, isDirectory: true).standardizedFileURL
        logs = root.appendingPathComponent("logs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        if let configured = environment["DATABASE_URL"], !configured.isEmpty {
            databaseURL = configured
            Self.say("database: DATABASE_URL (\(try PostgresConfiguration(configured)))")
        } else {
            let cluster = try await PrivatePostgres.start(in: root.appendingPathComponent("postgres"), logger: logger)
            database = cluster
            databaseURL = cluster.databaseURL
            Self.say("database: private PostgreSQL in \(cluster.directory.path) on port \(cluster.port)")
        }
        client = try PostgresClient(url: databaseURL, maxConnections: 2, logger: logger)

        let topics = TopicName.all.map { TopicSpec(name: $0, partitions: partitions) }
        if let configured = environment["KAFKA_BOOTSTRAP_SERVERS"], !configured.isEmpty {
            bootstrap = configured
            let admin = try KafkaAdmin(configuration: try KafkaConfiguration.fromEnvironment(), logger: logger)
            _ = try await admin.createTopics(topics, timeout: .seconds(30))
            Self.say("broker: KAFKA_BOOTSTRAP_SERVERS (\(configured))")
        } else {
            let embedded = try EmbeddedBroker(brokers: 1, defaultPartitions: partitions, logger: logger)
            broker = embedded
            _ = try embedded.createTopics(topics)
            bootstrap = embedded.bootstrapServers
            Self.say("broker: embedded at \(bootstrap)")
        }
        let report = try await client.withConnection { try await Migrator(logger: logger).migrate(on: $0) }
        Self.say("schema: \(report.applied.count) migrations applied now, \(report.alreadyApplied.count) before")
    }

    /// Seeds the knowledge and writes the synthetic corpus (both no-ops when already there).
    func prepareData(seed: UInt64, scale: CorpusScale) async throws {
        let started = ContinuousClock.now
        let knowledge = try KnowledgeBase.load()
        let log = logger
        let connection = try await PostgresConnection.connect(url: databaseURL, logger: log)
        do {
            let seeded = try await KnowledgeSeeder(logger: log).seed(knowledge, on: connection)
            Self.say("knowledge: \(seeded.unchanged ? "unchanged" : "seeded") (\(seeded.nodes) nodes, \(seeded.edges) DDx edges, \(seeded.rules) rules)")
            let plan = try CorpusPlanner.plan(knowledge: knowledge, seed: seed, scale: scale)
            let written = try await SyntheticCorpusWriter(logger: log).write(plan, on: connection)
            Self.say("synthetic corpus (\(scale.rawValue), seed \(seed)): \(written.unchanged ? "unchanged" : "\(written.writtenCases) cases written")")
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
        Self.say("data ready in \(Self.seconds(since: started))")
    }

    /// Nice value of the evaluator under `up`: the lowest priority, so that on shared cores it
    /// computes in the time training leaves (README, scaling).
    static let evaluatorNiceness = 19

    /// Starts every service of `runID` as a supervised child process.
    func startServices(runID: String, rolloutWorkers: Int, scorers: Int, evaluators: Int) throws -> Set<String> {
        let supervisor = ChildSupervisor(logger: logger)
        self.supervisor = supervisor
        var plan: [(String, String)] = [("trajectory-synthesizer", "trajectory-synthesizer-1"), ("learner", "learner-1")]
        plan += (1...rolloutWorkers).map { ("rollout-generator", "rollout-generator-\($0)") }
        plan += (1...scorers).map { ("reward-scorer", "reward-scorer-\($0)") }
        plan += (1...evaluators).map { ("evaluator", "evaluator-\($0)") }
        let environment = ProcessInfo.processInfo.environment
        for (service, instance) in plan {
            var child = environment
            child["DATABASE_URL"] = databaseURL
            child["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            child["SKINR1_RUN_ID"] = runID
            child["SKINR1_INSTANCE_ID"] = "\(runID)/\(instance)"
            child["SKINR1_HEARTBEAT_SECONDS"] = child["SKINR1_HEARTBEAT_SECONDS"] ?? "1"
            if service == "evaluator" {
                // The evaluator watches training and is not on its critical path: on shared
                // cores it uses the time the learner and the workers leave (SKINR1_NICENESS wins).
                child["SKINR1_NICENESS"] = child["SKINR1_NICENESS"] ?? "\(Self.evaluatorNiceness)"
            }
            try supervisor.start(ChildSpec(
                name: instance, executable: try Self.sibling(service), environment: child,
                logFile: logs.appendingPathComponent("\(runID).\(instance).log")))
        }
        Self.say("services: \(plan.count) processes started for \(runID); logs in \(logs.path)")
        instances = Set(plan.map { "\(runID)/\($0.1)" })
        return instances
    }

    /// Waits until every expected instance heartbeats as running.
    func waitUntilHealthy(_ expected: Set<String>, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        var lastCount = -1
        while ContinuousClock.now < deadline {
            let rows = try await ServiceHealth.all(client)
            let healthy = Set(rows.filter(\.healthy).map(\.instanceID)).intersection(expected)
            if healthy.count != lastCount {
                Self.say("healthy: \(healthy.count)/\(expected.count)")
                lastCount = healthy.count
            }
            if healthy == expected { return true }
            try await Task.sleep(for: .milliseconds(300))
        }
        return false
    }

    /// Stops the current run's services (SIGTERM, then SIGKILL after the grace period).
    func stopServices() async {
        guard let supervisor else { return }
        let killed = await supervisor.stopAll(grace: .seconds(30))
        self.supervisor = nil
        // This run's processes only: a reused working directory holds earlier runs' heartbeats.
        let rows = ((try? await ServiceHealth.all(client)) ?? []).filter { instances.contains($0.instanceID) }
        let stopped = rows.filter { $0.status == Heartbeat.Status.stopped.rawValue }.count
        lastStopSummary = "\(stopped)/\(rows.count) services recorded a clean stop"
            + (killed.isEmpty ? "" : "; killed: \(killed.joined(separator: ", "))")
    }

    /// Stops services, broker and database, in that order.
    func tearDown() async throws {
        await stopServices()
        await client.close()
        broker?.shutdown()
        broker = nil
        if let database { try await database.stop() }
        database = nil
    }

    var restarts: [String: Int] { supervisor?.restarts ?? [:] }

    nonisolated static func say(_ line: String) {
        Console.line("up: \(line)")
    }

    nonisolated static func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.1fs", elapsed.seconds)
    }

    nonisolated static func stamp() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    /// A service executable installed beside this one.
    nonisolated static func sibling(_ name: String) throws -> URL {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let url = me.deletingLastPathComponent().appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw RunConfigError("the \(name) executable is not beside \(me.path); build every product (swift build)")
        }
        return url
    }
}
