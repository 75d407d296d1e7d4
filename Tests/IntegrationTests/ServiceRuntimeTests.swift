import Backoff
import Foundation
import BLASKernel
import Logging
import Synchronization
import Testing
@testable import ServiceRuntime

@Suite("Service runtime, plain values")
struct ServiceRuntimeTests {
    @Test func retryCeilingGrowsExponentiallyUpToTheCap() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        #expect(policy.ceiling(forAttempt: 0) == .milliseconds(100))
        #expect(policy.ceiling(forAttempt: 1) == .milliseconds(200))
        #expect(policy.ceiling(forAttempt: 4) == .milliseconds(1600))
        #expect(policy.ceiling(forAttempt: 5) == .seconds(2))
        #expect(policy.ceiling(forAttempt: 500) == .seconds(2))
    }

    @Test func jitteredDelaysStayWithinTheCeilingAndSpread() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(10))
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<200).map { _ in policy.delay(forAttempt: 3, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(800) })
        #expect(Set(delays).count > 100, "full jitter spreads retries")
    }

    @Test func withRetryRetriesUntilSuccessAndStopsAtTheLimit() async throws {
        let logger = Logger(label: "test.retry")
        let calls = Mutex(0)
        let policy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(2), maxAttempts: 5)
        let value = try await withRetry("flaky", policy: policy, logger: logger) {
            let n = calls.withLock { $0 += 1; return $0 }
            if n < 3 { throw ConfigurationError("outage \(n)") }
            return n
        }
        #expect(value == 3)

        calls.withLock { $0 = 0 }
        await #expect(throws: ConfigurationError.self) {
            try await withRetry("down", policy: policy, logger: logger) { () async throws -> Int in
                calls.withLock { $0 += 1 }
                throw ConfigurationError("still down")
            }
        }
        #expect(calls.withLock { $0 } == 5)

        calls.withLock { $0 = 0 }
        await #expect(throws: ConfigurationError.self) {
            try await withRetry("fatal", policy: policy, logger: logger, isRetriable: { _ in false }) { () async throws -> Int in
                calls.withLock { $0 += 1 }
                throw ConfigurationError("bad password")
            }
        }
        #expect(calls.withLock { $0 } == 1, "a non-retriable error is not retried")
    }

    @Test func runtimeOptionsPreferFlagsThenEnvironmentAndNameWhatIsWrong() throws {
        let options = try RuntimeOptions.parse(["--database-url", "postgresql://flag@h/db"])
        let resolved = try options.resolve(environment: [
            "DATABASE_URL": "postgresql://env@h/db", "KAFKA_BOOTSTRAP_SERVERS": "k:9092", "SKINR1_LOG_FORMAT": "json",
        ])
        #expect(resolved.databaseURL == "postgresql://flag@h/db")
        #expect(resolved.bootstrapServers == "k:9092")
        #expect(resolved.logFormat == .json)

        let badFormat = #expect(throws: ConfigurationError.self) {
            try RuntimeOptions.parse([]).resolve(environment: ["SKINR1_LOG_FORMAT": "xml"])
        }
        #expect(badFormat?.description.contains("SKINR1_LOG_FORMAT") == true)
        let badHeartbeat = #expect(throws: ConfigurationError.self) {
            try RuntimeOptions.parse([]).resolve(environment: ["SKINR1_HEARTBEAT_SECONDS": "-1"])
        }
        #expect(badHeartbeat?.description.contains("SKINR1_HEARTBEAT_SECONDS") == true)
        let noDatabase = #expect(throws: ConfigurationError.self) {
            try RuntimeOptions.parse([]).resolve(environment: [:]).requireDatabaseURL()
        }
        #expect(noDatabase?.description.contains("DATABASE_URL") == true)
        #expect(try RuntimeOptions.parse([]).resolve(environment: [:]).niceness == 0)
        #expect(try RuntimeOptions.parse(["--niceness", "7"]).resolve(environment: ["SKINR1_NICENESS": "3"]).niceness == 7)
        let badNiceness = #expect(throws: ConfigurationError.self) {
            try RuntimeOptions.parse([]).resolve(environment: ["SKINR1_NICENESS": "-5"])
        }
        #expect(badNiceness?.description.contains("SKINR1_NICENESS") == true)
    }

    /// Nice values of every thread of this process, from /proc.
    private func threadNiceValues() throws -> [Int] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").map { task in
            let stat = try String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8)
            // Fields after the command name (which ends at the last ')'): state is field 3, nice field 19.
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            return Int(fields[16])!
        }
    }

    @Test func lowerPriorityReachesEveryThreadAndThreadsStartedLater() throws {
        // Nice 1 is a harmless change for the test process, and allowed without privileges.
        let before = try threadNiceValues()
        try #require(before.allSatisfy { $0 <= 1 }, "the test process starts at nice 0 or 1, got \(before)")
        try ProcessPriority.lower(to: 1)
        #expect(try threadNiceValues().allSatisfy { $0 == 1 }, "every thread runs at nice 1")
        // A thread started afterwards inherits the value.
        let seen = Mutex<Int?>(nil)
        let thread = Thread { seen.withLock { $0 = ProcessPriority.current } }
        thread.start()
        while seen.withLock({ $0 }) == nil { usleep(1000) }
        #expect(seen.withLock { $0 } == 1)
        let outside = #expect(throws: ConfigurationError.self) { try ProcessPriority.lower(to: 20) }
        #expect(outside?.description.contains("0...19") == true)
    }

    @Test func kernelFollowsTheCPUFlags() {
        let avx512 = BLASKernelSelection.cpuFlags(cpuinfo: "processor\t: 0\nflags\t\t: fpu sse avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl\n")
        #expect(BLASKernelSelection.kernel(forCPUFlags: avx512) == "SkylakeX")
        #expect(BLASKernelSelection.kernel(forCPUFlags: avx512.union(["avx512_bf16"])) == "Cooperlake")
        #expect(BLASKernelSelection.kernel(forCPUFlags: ["avx2", "fma"]) == "Haswell")
        #expect(BLASKernelSelection.kernel(forCPUFlags: ["sse2"]) == nil)
    }

    @Test func startUpSetsWhatTheUserLeftOpenAndReexecutesOnce() {
        typealias Selection = BLASKernelSelection
        let timeout = "\(Selection.threadTimeout)"
        #expect(Selection.settings(environment: [:], kernel: "SkylakeX") == [
            Selection.coreTypeVariable: "SkylakeX", Selection.threadTimeoutVariable: timeout, Selection.reexecMarker: "SkylakeX",
        ])
        // The user's kernel stays; the marker then does not claim a selection.
        #expect(Selection.settings(environment: [Selection.coreTypeVariable: "Haswell"], kernel: "SkylakeX") == [
            Selection.threadTimeoutVariable: timeout, Selection.reexecMarker: "-",
        ])
        #expect(Selection.settings(environment: [Selection.threadTimeoutVariable: "28"], kernel: nil) == [:])
        #expect(Selection.settings(environment: [Selection.threadTimeoutVariable: "28"], kernel: "Cooperlake") == [
            Selection.coreTypeVariable: "Cooperlake", Selection.reexecMarker: "Cooperlake",
        ])
        // A re-executed process never re-executes again, whatever is missing.
        #expect(Selection.settings(environment: [Selection.reexecMarker: "-"], kernel: "SkylakeX") == [:])
    }

    @Test func countersAccumulate() {
        let counters = ServiceCounters()
        counters.add("messages")
        counters.add("messages", 4)
        counters.set("lag", 7)
        #expect(counters.snapshot == ["messages": 5, "lag": 7])
    }
}
