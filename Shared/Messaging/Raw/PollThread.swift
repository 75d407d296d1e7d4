import Foundation
import Synchronization

/// A dedicated OS thread for librdkafka's blocking poll loops, so they never occupy one of
/// Swift's cooperative threads. `body` runs until it returns; it should check `isStopping`
/// between polls of at most ~100 ms.
final class PollThread: Sendable {
    private struct State {
        var stopping = false
        var finished = false
        var joiners: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init(name: String, body: @escaping @Sendable (PollThread) -> Void) {
        let thread = Thread { [self] in
            body(self)
            let joiners = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = true
                defer { state.joiners = [] }
                return state.joiners
            }
            for joiner in joiners { joiner.resume() }
        }
        thread.name = name
        thread.start()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func stop() { state.withLock { $0.stopping = true } }

    /// Waits (without blocking a thread) until `body` has returned.
    func join() async {
        await withCheckedContinuation { continuation in
            let finished = state.withLock { state -> Bool in
                if state.finished { return true }
                state.joiners.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }
}
