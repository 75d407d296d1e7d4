import Foundation
import Logging
import ServiceRuntime
import Store
import Testing
import TestSupport

/// `skinr1 up --profile smoke` with nothing configured: embedded broker, private PostgreSQL,
/// synthetic data, every service as a child process, SFT, asynchronous GRPO, evaluation.
@Suite("Ensemble", .serialized, .timeLimit(.minutes(15)))
struct EnsembleTests {
    let logger: Logger = {
        var logger = Logger(label: "skinr1.test.ensemble")
        logger.logLevel = .warning
        return logger
    }()

    func workdir(_ purpose: String) -> URL {
        URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-\(purpose)-\(UUID().uuidString.prefix(8))")
    }

    /// Starts `skinr1 up` and returns the process and its output file.
    func launchUp(_ children: ChildProcesses, in dir: URL, _ extra: [String]) throws -> (Process, URL) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let output = dir.appendingPathComponent("up.out")
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DATABASE_URL")
        environment.removeValue(forKey: "KAFKA_BOOTSTRAP_SERVERS")
        let up = try children.launch(try skinr1Binary(),
                                     ["up", "--profile", "smoke", "--workdir", dir.appendingPathComponent("run").path] + extra,
                                     environment: environment, log: output)
        return (up, output)
    }

    /// Reopens the run's private cluster after `up` stopped it, to check what it left behind.
    func withStore<T>(_ dir: URL, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let cluster = try await PrivatePostgres.start(in: dir.appendingPathComponent("run/postgres"), logger: logger)
        let client = try PostgresClient(url: cluster.databaseURL, maxConnections: 1, logger: logger)
        do {
            let value = try await body(client)
            await client.close()
            try await cluster.stop()
            return value
        } catch {
            await client.close()
            try? await cluster.stop()
            throw error
        }
    }

    /// Connects to the run's private cluster while `up` runs, once its output names the port.
    func connectWhileRunning(_ output: URL) async throws -> PostgresClient {
        let started = try await waitForText(" on port ", in: output, timeout: .seconds(120))
        let portLine = try #require(started.split(separator: "\n").first { $0.contains(" on port ") })
        let port = try #require(portLine.split(separator: " ").last.map(String.init))
        return try PostgresClient(url: "postgresql://postgres@127.0.0.1:\(port)/skinr1", maxConnections: 1, logger: logger)
    }

    func count(_ client: PostgresClient, _ sql: SQLQuery) async throws -> Int {
        try await client.query(sql).first?.decode("n", as: Int.self) ?? -1
    }

    /// The outcomes every finished smoke run must show.
    func expectCompleteRun(_ client: PostgresClient, groupSize: Int) async throws {
        let runID: String = try #require(try await client.query("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").first?.decode("id"))
        let milestones = Set(try await client.query("SELECT name FROM run_milestones WHERE run_id = \(runID)").map { try $0.decode("name", as: String.self) })
        for name in ["eval_suites_built", "trajectories_published", "prompts_published", "base_ready", "sft_done",
                     "rl_started", "rl_done", "training_done", "evaluation_done"] {
            #expect(milestones.contains(name), "milestone \(name) reached")
        }
        for table in ["trajectories", "rl_prompts", "eval_items", "policy_versions", "checkpoints", "rollout_groups",
                      "rewards", "learner_steps", "eval_results", "cases", "taxonomy_nodes", "ddx_edges", "blobs"] {
            #expect(try await count(client, "SELECT count(*)::int8 AS n FROM \(identifier: table)") > 0, "\(table) has rows")
        }
        #expect(try await count(client, "SELECT count(*)::int8 AS n FROM learner_steps WHERE run_id = \(runID) AND stage = 'sft'") > 0)
        #expect(try await count(client, "SELECT count(*)::int8 AS n FROM learner_steps WHERE run_id = \(runID) AND stage = 'rl'") > 0)
        // Reward rows match rollouts: no reward without its group, K rewards for every scored group.
        #expect(try await count(client, """
            SELECT count(*)::int8 AS n FROM rewards r LEFT JOIN rollout_groups g USING (group_id) WHERE g.group_id IS NULL
            """) == 0)
        #expect(try await count(client, """
            SELECT count(*)::int8 AS n FROM (SELECT group_id FROM rewards GROUP BY group_id HAVING count(*) <> \(groupSize)) x
            """) == 0)
        // Every group a step used was scored, and no group was used twice.
        #expect(try await count(client, """
            SELECT count(*)::int8 AS n FROM rollout_groups g WHERE g.used_at_step IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM rewards r WHERE r.group_id = g.group_id)
            """) == 0)
        let used = try await count(client, "SELECT count(*)::int8 AS n FROM rollout_groups WHERE run_id = \(runID) AND used_at_step IS NOT NULL")
        let perSteps = try await count(client, "SELECT coalesce(sum(groups), 0)::int8 AS n FROM learner_steps WHERE run_id = \(runID) AND stage = 'rl'")
        #expect(used > 0 && used == perSteps, "groups marked used (\(used)) equal the groups the steps report (\(perSteps))")
        // The profiles have the workers compute the reference log-probabilities: the learner
        // took them for answers instead of running its reference (its heartbeat counter).
        #expect(try await count(client, """
            SELECT coalesce(max((counters->>'rl.reference_from_workers')::int8), 0) AS n
            FROM service_heartbeats WHERE service = 'learner'
            """) > 0, "the learner used reference log-probabilities computed by the rollout workers")
        // What the rollouts chose: every scored answer of a disease question is in v_rl_choices
        // once, and its class agrees with its granularity reward (the diagnosis earns the full
        // 0.75; an option off the path, or none, earns 0).
        #expect(try await count(client, "SELECT coalesce(sum(answers), 0)::int8 AS n FROM v_rl_choices WHERE run_id = \(runID)")
                == (try await count(client, "SELECT count(*)::int8 AS n FROM rewards WHERE run_id = \(runID)")))
        #expect(try await count(client, """
            SELECT count(*)::int8 AS n FROM v_rl_choices WHERE run_id = \(runID)
              AND ((choice = 'label' AND granularity_mean <> 0.75) OR (choice IN ('off_path', 'none') AND granularity_mean <> 0))
            """) == 0)
        let screen = try await RunStatus.screen(runID: runID, client)
        #expect(screen.contains("== what rollouts choose") && screen.contains("versions   answers  diagnosis"),
                "skinr1 status shows the rollouts' choices: \(screen)")
        // Evaluation tables complete: base, SFT and the final version on every suite.
        let finalVersion = try await count(client, "SELECT (detail->>'version')::int8 AS n FROM run_milestones WHERE run_id = \(runID) AND name = 'training_done'")
        for version in [0, 1, finalVersion] {
            let suites = Set(try await client.query("SELECT DISTINCT suite FROM eval_results WHERE run_id = \(runID) AND version = \(version)")
                .map { try $0.decode("suite", as: String.self) })
            #expect(suites.isSuperset(of: ["disease", "ood", "lesion_condition", "hierarchical", "ddx"]),
                    "version \(version) evaluated on every suite, got \(suites)")
        }
    }

    @Test func smokeRunCompletesEveryStage() async throws {
        let dir = workdir("smoke")
        defer { try? FileManager.default.removeItem(at: dir) }
        let children = ChildProcesses()
        defer { children.killAll() }
        let (up, output) = try launchUp(children, in: dir, ["--rollout-workers", "2", "--evaluators", "2"])
        try await waitForExit(up, timeout: .seconds(600))
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(up.terminationStatus == 0, "up failed: \(text.suffix(4000))")
        #expect(text.contains("In-distribution disease diagnosis"), "the evaluation table is printed")
        var evaluatedVersions = 0
        try await withStore(dir) { client in
            try await expectCompleteRun(client, groupSize: 4)
            // Both workers joined the run (which of them wins the few smoke tickets is up to the broker).
            #expect(try await count(client, "SELECT count(*)::int8 AS n FROM service_heartbeats WHERE service = 'rollout-generator'") == 2)
            #expect(try await count(client, "SELECT count(*)::int8 AS n FROM service_heartbeats WHERE service = 'evaluator'") == 2)
            evaluatedVersions = try await count(client, "SELECT count(DISTINCT version)::int8 AS n FROM eval_results")
        }
        // The evaluator runs below the training processes; the learner at normal priority.
        let logs = dir.appendingPathComponent("run/logs")
        func log(_ instance: String) throws -> String {
            let name = try #require(try FileManager.default.contentsOfDirectory(atPath: logs.path).first { $0.hasSuffix(".\(instance).log") })
            return try String(contentsOf: logs.appendingPathComponent(name), encoding: .utf8)
        }
        #expect(try log("evaluator-1").contains("process.niceness=19"))
        #expect(try log("evaluator-2").contains("process.niceness=19"))
        // The two evaluators shared the versions: each was decoded once, by one of them, unless
        // its claimant fell silent (a loaded machine) and the other took the claim over, saying so.
        func occurrences(_ text: String) throws -> [Int] {
            try ["evaluator-1", "evaluator-2"].map { try log($0).components(separatedBy: text).count - 1 }
        }
        let decoded = try occurrences("version evaluated"), takenOver = try occurrences("claim taken over")
        #expect(decoded.reduce(0, +) == evaluatedVersions + takenOver.reduce(0, +),
                "versions decoded by each evaluator: \(decoded), evaluated: \(evaluatedVersions), claims taken over: \(takenOver)")
        #expect(try log("learner-1").contains("process.niceness=0"))
        #expect(try log("learner-1").contains("GRPO runs on 1 thread of numeric code"))
    }

    @Test func aLearnerKilledMidRunResumesAndTheRunCompletes() async throws {
        let dir = workdir("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let children = ChildProcesses()
        defer { children.killAll() }
        let (up, output) = try launchUp(children, in: dir, [])
        let client = try await connectWhileRunning(output)

        // Kill the learner once GRPO has checkpointed at least once, so it must resume from a checkpoint.
        var killedPID: Int?
        let deadline = ContinuousClock.now + .seconds(420)
        while ContinuousClock.now < deadline, up.isRunning, killedPID == nil {
            let checkpoints = (try? await count(client, "SELECT count(*)::int8 AS n FROM checkpoints WHERE stage = 'rl'")) ?? 0
            if checkpoints > 0, let learner = try? await ServiceHealth.all(client).first(where: { $0.service == "learner" && $0.healthy }) {
                kill(pid_t(learner.pid), SIGKILL)
                killedPID = learner.pid
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        await client.close()
        #expect(killedPID != nil, "the learner was killed after an RL checkpoint")

        try await waitForExit(up, timeout: .seconds(600))
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(up.terminationStatus == 0, "up failed: \(text.suffix(4000))")
        #expect(text.contains("child died; restarting"))
        try await withStore(dir) { client in
            try await expectCompleteRun(client, groupSize: 4)
            // The restarted learner continued the step sequence: steps 1...n each once.
            let steps = try await client.query("SELECT step FROM learner_steps WHERE stage = 'rl' ORDER BY step").map { try $0.decode("step", as: Int.self) }
            #expect(steps == Array(1...max(1, steps.count)), "RL steps \(steps) are consecutive and unique")
        }
    }

    @Test func aRolloutWorkerAndTheScorerKilledMidGRPOLoseNothing() async throws {
        let dir = workdir("workerkill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let children = ChildProcesses()
        defer { children.killAll() }
        let rlSteps = 30
        let (up, output) = try launchUp(children, in: dir, ["--rollout-workers", "2", "--set", "rlSteps=\(rlSteps)"])
        let client = try await connectWhileRunning(output)

        // Once GRPO has used some groups, kill one of the two workers and the only scorer at once:
        // their leased tickets, unscored rollouts and uncommitted offsets must all come back.
        var killed: [String] = []
        var stepsAtKill = -1
        let deadline = ContinuousClock.now + .seconds(420)
        while ContinuousClock.now < deadline, up.isRunning, killed.isEmpty {
            let steps = (try? await count(client, "SELECT count(*)::int8 AS n FROM learner_steps WHERE stage = 'rl'")) ?? 0
            let healthy = (try? await ServiceHealth.all(client).filter(\.healthy)) ?? []
            if steps >= 2, let worker = healthy.first(where: { $0.service == "rollout-generator" }),
               let scorer = healthy.first(where: { $0.service == "reward-scorer" }) {
                kill(pid_t(worker.pid), SIGKILL)
                kill(pid_t(scorer.pid), SIGKILL)
                killed = [worker.instanceID, scorer.instanceID]
                stepsAtKill = steps
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await client.close()
        #expect(killed.count == 2, "a rollout worker and the scorer were killed during GRPO")
        #expect(stepsAtKill >= 2 && stepsAtKill < rlSteps, "killed at RL step \(stepsAtKill) of \(rlSteps)")

        try await waitForExit(up, timeout: .seconds(600))
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(up.terminationStatus == 0, "up failed: \(text.suffix(4000))")
        #expect(text.components(separatedBy: "child died; restarting").count - 1 >= 2, "both deaths reported and restarted")
        try await withStore(dir) { client in
            try await expectCompleteRun(client, groupSize: 4)
            let steps = try await client.query("SELECT step FROM learner_steps WHERE stage = 'rl' ORDER BY step").map { try $0.decode("step", as: Int.self) }
            #expect(steps == Array(1...rlSteps), "every RL step ran once")
        }
    }
}
