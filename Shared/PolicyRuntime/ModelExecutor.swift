import Foundation
import Synchronization

/// Runs model work (forward, backward, sampling: long BLAS calls) on one dedicated OS
/// thread, never on Swift's cooperative pool, and hands the result back to async code.
/// One executor per model keeps the model's buffers touched by one thread at a time.
///
/// A thread of its own rather than a dispatch queue: libdispatch sets the nice value of its
/// worker threads from the queue's quality of service, which overrode the priority a process
/// chose for itself (an evaluator at nice 10 computed at -2, the user-initiated level).
public final class ModelExecutor: Sendable {
    private final class Jobs: Sendable {
        let pending = Mutex<[@Sendable () -> Void]>([])
        /// One signal per job, and one more when the executor goes away (the thread then ends).
        let ready = DispatchSemaphore(value: 0)
    }
    private let jobs = Jobs()

    public init(label: String) {
        let jobs = self.jobs
        let thread = Thread {
            while true {
                jobs.ready.wait()
                guard let job = jobs.pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return }
                job()
            }
        }
        thread.name = "skinr1.model.\(label)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    deinit {
        // Jobs still queued keep their signals and run first; this one finds nothing and ends the thread.
        jobs.ready.signal()
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            jobs.pending.withLock { $0.append { continuation.resume(with: Result { try body() }) } }
            jobs.ready.signal()
        }
    }
}
