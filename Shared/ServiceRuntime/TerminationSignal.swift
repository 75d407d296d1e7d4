import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGTERM or SIGINT without letting either kill the process.
///
/// Any number of waits, one after another or at once: each returns the first signal
/// received (at once when it already came), and a cancelled wait returns nil without
/// affecting later ones.
///
/// `@unchecked Sendable`: `sources` is set once in `init` (dispatch sources are thread-safe);
/// everything that changes lives in the mutex.
public final class TerminationSignal: @unchecked Sendable {
    private struct State {
        var received: Int32?
        var waiters: [UInt64: CheckedContinuation<Int32?, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private final class Box: Sendable {
        let state = Mutex(State())
    }

    private let sources: [any DispatchSourceSignal]
    private let box: Box

    public init(_ signals: [Int32] = [SIGTERM, SIGINT]) {
        let box = Box()
        self.box = box
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let (first, waiting) = box.state.withLock { current in
                    if current.received == nil { current.received = number }
                    defer { current.waiters.removeAll() }
                    return (current.received, Array(current.waiters.values))
                }
                for waiter in waiting { waiter.resume(returning: first) }
            }
            source.resume()
            return source
        }
    }

    /// The signal received so far, if any.
    public var received: Int32? { box.state.withLock { $0.received } }

    /// The first signal received; nil when the waiting task is cancelled first.
    @discardableResult
    public func wait() async -> Int32? {
        let box = self.box
        let id = box.state.withLock { current -> UInt64 in
            current.nextID += 1
            return current.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let immediate: Int32?? = box.state.withLock { current in
                    if let received = current.received { return .some(received) }
                    if Task.isCancelled { return .some(nil) }
                    current.waiters[id] = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = box.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }
}
