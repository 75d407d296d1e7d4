import Foundation
import Logging
import ServiceRuntime
import Store
import Testing
import TestSupport

/// `skinr1 up` with nothing configured: embedded broker, private PostgreSQL, five services.
@Suite("Ensemble", .serialized, .timeLimit(.minutes(5)))
struct EnsembleTests {
    let logger: Logger = {
        var logger = Logger(label: "skinr1.test.ensemble")
        logger.logLevel = .warning
        return logger
    }()

    func workdir(_ purpose: String) -> URL {
        URL(fileURLWithPath: "/tmp").appendingPathComponent("skinr1-\(purpose)-\(UUID().uuidString.prefix(8))")
    }

    @Test func upBringsEveryServiceUpHealthyAndStopsThemCleanly() async throws {
        let binary = try skinr1Binary()
        let dir = workdir("up")
        defer { try? FileManager.default.removeItem(at: dir) }
        let children = ChildProcesses()
        defer { children.killAll() }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let output = dir.appendingPathComponent("up.out")
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DATABASE_URL")
        environment.removeValue(forKey: "KAFKA_BOOTSTRAP_SERVERS")
        let up = try children.launch(binary, ["up", "--workdir", dir.appendingPathComponent("run").path, "--rollout-workers", "2"],
                                     environment: environment, log: output)
        try await waitForExit(up, timeout: .seconds(180))
        let text = try String(contentsOf: output, encoding: .utf8)
        #expect(up.terminationStatus == 0, "up failed: \(text.suffix(3000))")
        #expect(text.contains("healthy: 6/6"))
        #expect(text.contains("all 6 services healthy"))
        #expect(text.contains("6/6 services recorded a clean stop"))
        for instance in ["learner-1", "rollout-generator-1", "rollout-generator-2", "reward-scorer-1", "evaluator-1", "trajectory-synthesizer-1"] {
            let log = try String(contentsOf: dir.appendingPathComponent("run/logs/\(instance).log"), encoding: .utf8)
            #expect(log.contains("OpenBLAS kernel"), "\(instance) logs its BLAS kernel")
        }
    }

    @Test func aServiceKilledWithSIGKILLIsRestartedAndReportsHealthyAgain() async throws {
        let binary = try skinr1Binary()
        let dir = workdir("restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let children = ChildProcesses()
        defer { children.killAll() }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let output = dir.appendingPathComponent("up.out")
        let up = try children.launch(binary, ["up", "--keep-running", "--workdir", dir.appendingPathComponent("run").path],
                                     log: output)
        let text = try await waitForText("running; Ctrl-C to stop", in: output, timeout: .seconds(120))
        let url = try #require(text.split(separator: "\n").first { $0.contains("--database-url") }?
            .split(separator: " ").last.map(String.init)?.trimmingCharacters(in: CharacterSet(charactersIn: ")")))
        let client = try PostgresClient(url: url, maxConnections: 1, logger: logger)

        func learner() async throws -> ServiceHealth? {
            try await ServiceHealth.all(client).first { $0.instanceID == "learner-1" }
        }
        let before = try #require(try await learner())
        #expect(before.healthy)
        kill(pid_t(before.pid), SIGKILL)

        var restarted: ServiceHealth?
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let now = try await learner(), now.pid != before.pid, now.healthy { restarted = now; break }
            try await Task.sleep(for: .milliseconds(200))
        }
        await client.close()
        #expect(restarted != nil, "the learner came back with a new pid")

        kill(up.processIdentifier, SIGTERM)
        try await waitForExit(up, timeout: .seconds(60))
        let final = try String(contentsOf: output, encoding: .utf8)
        #expect(up.terminationStatus == 0, "up failed: \(final.suffix(3000))")
        #expect(final.contains("child died; restarting"))
        #expect(final.contains("5/5 services recorded a clean stop"))
    }
}
