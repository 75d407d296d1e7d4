import Foundation
import Testing
@testable import ServiceRuntime
#if canImport(Glibc)
import Glibc
#endif

@Suite("Termination signal")
struct TerminationSignalTests {
    @Test func aCancelledWaitLeavesLaterWaitsWaitingAndASignalReachesEveryone() async throws {
        let signals = TerminationSignal([SIGUSR2])
        // One wait cancelled, as a finished run cancels its watcher.
        let cancelled = Task { await signals.wait() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        #expect(signals.received == nil)

        // A later wait still waits; a signal wakes it and every wait after returns at once.
        let later = Task { await signals.wait() }
        let alsoLater = Task { await signals.wait() }
        try await Task.sleep(for: .milliseconds(100))
        #expect(signals.received == nil)
        kill(getpid(), SIGUSR2)
        #expect(await later.value == SIGUSR2)
        #expect(await alsoLater.value == SIGUSR2)
        #expect(await signals.wait() == SIGUSR2)
        #expect(signals.received == SIGUSR2)
    }
}
