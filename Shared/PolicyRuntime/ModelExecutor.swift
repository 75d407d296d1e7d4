import Dispatch

/// Runs model work (forward, backward, sampling: long BLAS calls) on one dedicated serial
/// queue, never on Swift's cooperative pool, and hands the result back to async code.
/// One executor per model keeps the model's buffers touched by one thread at a time.
public final class ModelExecutor: Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: "skinr1.model.\(label)", qos: .userInitiated)
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
