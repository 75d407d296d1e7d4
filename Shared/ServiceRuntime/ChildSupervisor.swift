import Backoff
import Foundation
import Logging
import Synchronization

/// One child process the supervisor keeps running.
public struct ChildSpec: Sendable {
    public var name: String
    public var executable: URL
    public var arguments: [String]
    public var environment: [String: String]
    public var logFile: URL

    public init(name: String, executable: URL, arguments: [String] = [], environment: [String: String], logFile: URL) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.logFile = logFile
    }
}

/// Starts child processes, reports the ones that die and restarts them with backoff,
/// and stops them all with SIGTERM (then SIGKILL after a grace period).
public final class ChildSupervisor: Sendable {
    private struct Child {
        var spec: ChildSpec
        var process: Process?
        var restarts: Int
        var lastExit: Int32?
    }

    private struct State {
        var children: [String: Child] = [:]
        var stopping = false
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let restartPolicy: RetryPolicy

    public init(logger: Logger, restartPolicy: RetryPolicy = RetryPolicy(baseDelay: .milliseconds(500), maxDelay: .seconds(10))) {
        self.logger = logger
        self.restartPolicy = restartPolicy
    }

    /// Launches a child; it is restarted whenever it exits before `stopAll`.
    public func start(_ spec: ChildSpec) throws {
        state.withLock { $0.children[spec.name] = Child(spec: spec, process: nil, restarts: 0, lastExit: nil) }
        try launch(spec.name)
    }

    /// Restart counts and last exit codes, for progress displays.
    public var restarts: [String: Int] {
        state.withLock { $0.children.mapValues(\.restarts) }
    }

    /// Process ids of the running children.
    public var pids: [String: Int32] {
        state.withLock { s in s.children.compactMapValues { $0.process?.isRunning == true ? $0.process?.processIdentifier : nil } }
    }

    private func launch(_ name: String) throws {
        guard let spec = state.withLock({ $0.stopping ? nil : $0.children[name]?.spec }) else { return }
        let process = Process()
        process.executableURL = spec.executable
        process.arguments = spec.arguments
        process.environment = spec.environment
        if !FileManager.default.fileExists(atPath: spec.logFile.path) {
            _ = FileManager.default.createFile(atPath: spec.logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: spec.logFile)
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] finished in
            try? log.close()
            self?.exited(name, status: finished.terminationStatus, reason: finished.terminationReason)
        }
        try process.run()
        state.withLock { $0.children[name]?.process = process }
        logger.info("child started", metadata: ["child": "\(name)", "pid": "\(process.processIdentifier)"])
    }

    private func exited(_ name: String, status: Int32, reason: Process.TerminationReason) {
        let (stopping, attempt) = state.withLock { s -> (Bool, Int) in
            s.children[name]?.process = nil
            s.children[name]?.lastExit = status
            if !s.stopping { s.children[name]?.restarts += 1 }
            return (s.stopping, s.children[name]?.restarts ?? 0)
        }
        if stopping { return }
        let how = reason == .uncaughtSignal ? "killed by signal \(status)" : "exited with status \(status)"
        var generator = SystemRandomNumberGenerator()
        let pause = restartPolicy.delay(forAttempt: max(0, attempt - 1), using: &generator)
        logger.error("child died; restarting", metadata: [
            "child": "\(name)", "exit": "\(how)", "restart": "\(attempt)", "delay_ms": "\(pause.nanoseconds / 1_000_000)",
        ])
        let seconds = pause.seconds
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [weak self] in
            guard let self else { return }
            do { try self.launch(name) } catch {
                self.logger.error("child could not be restarted", metadata: ["child": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Sends SIGTERM to every child, waits up to `grace`, then SIGKILLs the rest.
    /// Returns the names of children that had to be killed.
    @discardableResult
    public func stopAll(grace: Duration = .seconds(20)) async -> [String] {
        let running = state.withLock { s -> [(String, Process)] in
            s.stopping = true
            return s.children.compactMap { name, child in child.process.map { (name, $0) } }
        }
        for (_, process) in running where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, running.contains(where: { $0.1.isRunning }) {
            try? await Task.sleep(for: .milliseconds(100))
        }
        var killed: [String] = []
        for (name, process) in running where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            killed.append(name)
            logger.warning("child did not stop in time; killed", metadata: ["child": "\(name)"])
        }
        for (_, process) in running { process.waitUntilExit() }
        return killed
    }
}
