import Foundation
import Messaging
import Pipeline
import Store
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The two executables as `skinr1 up` starts them: environment only, heartbeats in the
/// store, a clean exit on SIGTERM.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RolloutServiceTests {
    @Test func generatorAndScorerExecutablesTurnPromptsIntoRewardsAndStopCleanly() async throws {
        let generator = try executableBesideTests("rollout-generator")
        let scorer = try executableBesideTests("reward-scorer")
        let config = try rolloutTestConfig(groupSize: 4, maxNewTokens: 8)
        try await RolloutBench.with(config: config) { bench in
            let policy = try await RolloutTestPolicy.make(on: bench.client)
            let images = [try await bench.storeImage(shade: 90)]
            let prompts = rolloutPrompts(5, run: bench.record, images: images)
            try await bench.publish(prompts: prompts)
            try await policy.publishVersion(0, step: 0, adapter: 0, run: bench.record, capacity: 18, on: bench.client)
            try await bench.record.mark(.rlStarted, detail: ["version": 0], on: bench.client)

            let children = ChildProcesses()
            defer { children.killAll() }
            let environment = [
                "DATABASE_URL": bench.databaseURL, "KAFKA_BOOTSTRAP_SERVERS": bench.broker.bootstrapServers,
                "SKINR1_RUN_ID": bench.record.id, "SKINR1_HEARTBEAT_SECONDS": "0.5",
            ]
            let logs = bench.directory.appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            let processes = [
                try children.launch(generator, ["--instance-id", "gen-1", "--prompts-per-batch", "2"],
                                    environment: environment, log: logs.appendingPathComponent("generator.log")),
                try children.launch(scorer, ["--instance-id", "score-1", "--row-batch", "8", "--flush-milliseconds", "200"],
                                    environment: environment, log: logs.appendingPathComponent("scorer.log")),
            ]
            let expected = prompts.count * config.groupSize
            let done = try await bench.eventually(timeout: .seconds(120)) {
                try await bench.count("SELECT count(*)::bigint AS n FROM rewards WHERE run_id = \(bench.record.id)") == expected
            }
            let generatorLog = (try? String(contentsOf: logs.appendingPathComponent("generator.log"), encoding: .utf8)) ?? ""
            #expect(done, "every answer scored; generator log:\n\(generatorLog.suffix(2000))")

            for process in processes { kill(process.processIdentifier, SIGTERM) }
            for process in processes {
                let deadline = ContinuousClock.now + .seconds(30)
                while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                #expect(!process.isRunning, "stops on SIGTERM")
                if !process.isRunning { #expect(process.terminationStatus == 0) }
            }
            let rows = try await bench.client.query("""
                SELECT service, status, (counters->>'groups')::bigint AS groups FROM service_heartbeats ORDER BY service
                """)
            let beats = try rows.map { (try $0.decode("service", as: String.self), try $0.decode("status", as: String.self),
                                        try $0.decode("groups", as: Int?.self)) }
            #expect(beats.map(\.0) == ["reward-scorer", "rollout-generator"])
            #expect(beats.allSatisfy { $0.1 == "stopped" && $0.2 == prompts.count }, "\(beats)")
            // Every prompt is committed: a worker joining the group now finds nothing to sample.
            let groups = try await bench.count("SELECT count(*)::bigint AS n FROM rollout_groups WHERE run_id = \(bench.record.id)")
            #expect(groups == prompts.count)
        }
    }
}
