import Synchronization

/// A `Mutex` in a class, so closures handed to librdkafka's callbacks can share it.
final class LockedState<State: Sendable>: Sendable {
    private let mutex: Mutex<State>

    init(_ initial: State) {
        mutex = Mutex(initial)
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        try mutex.withLock { try body(&$0) }
    }
}
