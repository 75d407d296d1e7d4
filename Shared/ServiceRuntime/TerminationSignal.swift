import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGTERM or SIGINT without letting either kill the process.
///
/// `@unchecked Sendable`: both stored properties are set once in `init`; dispatch sources
/// and `AsyncStream` are safe to use from any thread.
public final class TerminationSignal: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    public init(_ signals: [Int32] = [SIGTERM, SIGINT]) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        self.stream = stream
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    /// The first signal received.
    public func wait() async -> Int32 {
        for await number in stream { return number }
        return SIGTERM
    }

    deinit {
        for source in sources { source.cancel() }
    }
}
