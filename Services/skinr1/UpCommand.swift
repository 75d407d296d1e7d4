import ArgumentParser
import DataSynth
import Foundation
import Logging
import Pipeline
import ServiceRuntime
import Workers
import Store

/// The main job: synthesize -> SFT -> GRPO -> evaluate, every service a supervised child process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run a Skin-R1 training run end to end: data, SFT, asynchronous GRPO, evaluation.",
        discussion: """
            With KAFKA_BOOTSTRAP_SERVERS unset, an embedded Kafka-protocol broker runs inside this \
            process (loopback TCP). With DATABASE_URL unset, a private PostgreSQL cluster is created \
            under the working directory. The knowledge is seeded and the synthetic corpus written \
            (both skipped when already there), then every service runs as a child process; one that \
            dies is reported and restarted. Progress is printed until the final policy is evaluated, \
            then the evaluation table is printed and everything shuts down (exit 0). Ctrl-C stops cleanly.
            """)

    @OptionGroup var options: RunOptions

    @Option(help: "Which stages to run: skin-r1 (SFT then RL), rl-only, sft-only.")
    var arm: String = RunArm.skinR1.rawValue

    @Flag(help: "Keep the services running after the run is evaluated, until Ctrl-C.")
    var keepRunning = false

    func validate() throws {
        try options.check()
        guard RunArm(rawValue: arm) != nil else {
            throw ValidationError("--arm must be one of \(RunArm.allCases.map(\.rawValue).joined(separator: ", ")), not '\(arm)'")
        }
    }

    func run() async throws {
        LoggingSetup.bootstrap(format: .human, level: .info)
        let logger = Logger(label: "skinr1.up")
        let signals = TerminationSignal()
        let config = try options.config(arm: RunArm(rawValue: arm)!)
        let ensemble = try await Ensemble(workdir: options.workdir, partitions: options.partitions, logger: logger)
        do {
            try await ensemble.prepareData(seed: config.seed, scale: CorpusScale(rawValue: config.dataScale) ?? .small)
            let outcome = try await RunDriver(ensemble: ensemble, options: options, signals: signals).run(config)
            if outcome == .finished {
                Console.line(EvaluationTable.render(try await EvaluationTable.load(runIDs: [outcome.runID], on: ensemble.client)))
                if keepRunning {
                    Ensemble.say("running; Ctrl-C to stop (watch with: skinr1 status --database-url \(ensemble.databaseURL))")
                    _ = await signals.wait()
                }
            }
            try await ensemble.tearDown()
            Ensemble.say("shut down: \(await ensemble.lastStopSummary ?? "no services were running")")
            if outcome != .finished { throw ExitCode(outcome == .interrupted ? 130 : 3) }
        } catch {
            try? await ensemble.tearDown()
            throw error
        }
    }
}

/// Options shared by `up` and `experiment`.
struct RunOptions: ParsableArguments, Sendable {
    @Option(help: "Sizes and lengths: smoke (a few minutes), quick (10-15 minutes on two cores), paper (long).")
    var profile: String = "quick"

    @Option(help: "Working directory for the private database, logs and artifacts.")
    var workdir: String = ".skinr1/run"

    @Option(help: "Rollout worker processes.")
    var rolloutWorkers: Int = 1

    @Option(help: "Reward scorer processes.")
    var scorers: Int = 1

    @Option(help: "Evaluator processes; they share the run's versions (each claims one before decoding it). Default: 1 for smoke, 2 otherwise.")
    var evaluators: Int?

    /// Evaluators to start: two unless told, so that the versions left when training ends
    /// are decoded on both cores at once; one for the smoke profile, which has few.
    var evaluatorCount: Int { evaluators ?? (profile == "smoke" ? 1 : 2) }

    @Option(help: "Seed of the data and of every sampler.")
    var seed: UInt64 = 20251125

    @Option(help: "Partitions of each product topic (bounds how many workers share a topic).")
    var partitions: Int = 8

    @Option(help: "Give up on a run after this many minutes (default: by profile).")
    var timeoutMinutes: Double?

    @Option(name: .customLong("set"),
            help: "Replace one knob of the profile, NAME=VALUE (repeatable; names as in runs.config), e.g. --set sftEpochs=3.")
    var overrides: [String] = []

    /// The profile's configuration for `arm`, with the `--set` knobs applied.
    func config(arm: RunArm) throws -> RunConfig {
        do {
            return try RunConfig.profile(profile, arm: arm, seed: seed).overriding(overrides)
        } catch let error as RunConfigError {
            throw ValidationError(error.description)
        }
    }

    func check() throws {
        guard RunConfig.profiles.contains(profile) else {
            throw ValidationError("--profile must be one of \(RunConfig.profiles.joined(separator: ", ")), not '\(profile)'")
        }
        guard rolloutWorkers >= 1, scorers >= 1, evaluatorCount >= 1 else {
            throw ValidationError("--rollout-workers, --scorers and --evaluators must be at least 1")
        }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
        _ = try config(arm: .skinR1)
    }

    var timeout: Duration {
        if let timeoutMinutes { return .seconds(timeoutMinutes * 60) }
        switch profile {
        case "smoke": return .seconds(15 * 60)
        case "quick": return .seconds(60 * 60)
        default: return .seconds(24 * 3600)
        }
    }
}

/// Runs one arm: creates the run, starts its services, shows progress until the final
/// policy is evaluated (or the timeout, or Ctrl-C), then stops its services.
struct RunDriver: Sendable {
    struct Outcome: Equatable {
        enum Kind { case finished, failed, interrupted }
        var kind: Kind
        var runID: String
        static func == (lhs: Outcome, rhs: Kind) -> Bool { lhs.kind == rhs }
        static func != (lhs: Outcome, rhs: Kind) -> Bool { lhs.kind != rhs }
    }

    let ensemble: Ensemble
    let options: RunOptions
    let signals: TerminationSignal

    func run(_ config: RunConfig) async throws -> Outcome {
        let runID = "\(config.arm.rawValue)-\(config.profile)-\(Ensemble.stamp())"
        let record = try await RunRecord.create(id: runID, config: config, on: ensemble.client)
        Ensemble.say("run \(runID): arm \(config.arm.rawValue), profile \(config.profile)")
        let started = ContinuousClock.now
        let expected = try await ensemble.startServices(runID: runID, rolloutWorkers: options.rolloutWorkers, scorers: options.scorers,
                                                       evaluators: options.evaluatorCount)
        let kind = try await withThrowingTaskGroup(of: Outcome.Kind.self) { group in
            group.addTask {
                guard try await ensemble.waitUntilHealthy(expected, timeout: .seconds(120)) else {
                    Ensemble.say("not every service reported healthy within 120 s; see the logs in \(ensemble.logs.path)")
                    return .failed
                }
                return try await follow(record, started: started)
            }
            group.addTask {
                _ = await signals.wait()
                return .interrupted
            }
            let first = try await group.next() ?? .failed
            group.cancelAll()
            return first
        }
        try? await record.finish(status: kind == .finished ? "finished" : "failed", on: ensemble.client)
        await ensemble.stopServices()
        Ensemble.say("run \(runID) \(kind == .finished ? "finished" : kind == .interrupted ? "interrupted" : "failed") after \(Ensemble.seconds(since: started)); \(await ensemble.lastStopSummary ?? "")")
        return Outcome(kind: kind, runID: runID)
    }

    /// Prints progress every few seconds until `evaluation_done`, or gives up at the timeout.
    private func follow(_ record: RunRecord, started: ContinuousClock.Instant) async throws -> Outcome.Kind {
        let deadline = started + options.timeout
        var lastLine = ""
        var lastPrint = ContinuousClock.now - .seconds(60)
        while ContinuousClock.now < deadline {
            if try await record.milestone(.evaluationDone, on: ensemble.client) != nil { return .finished }
            if ContinuousClock.now - lastPrint >= .seconds(5) {
                let line = try await RunStatus.progressLine(runID: record.id, ensemble.client)
                let restarts = await ensemble.restarts.filter { $0.value > 0 }
                let note = restarts.isEmpty ? "" : "; restarts " + restarts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                if line != lastLine || ContinuousClock.now - lastPrint >= .seconds(30) {
                    Ensemble.say("[\(Ensemble.seconds(since: started))] \(line)\(note)")
                    lastLine = line
                    lastPrint = ContinuousClock.now
                }
            }
            try await Task.sleep(for: .seconds(1))
        }
        Ensemble.say("the run did not finish within \(options.timeout); see the logs in \(ensemble.logs.path)")
        return .failed
    }
}
