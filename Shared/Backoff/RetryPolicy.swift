import Logging

/// Capped exponential backoff with full jitter, for broker and database outages.
///
/// Delay before retry `n` (0-based) is a random value in `[0, min(cap, base * 2^n)]`,
/// so many processes reconnecting after the same outage spread out instead of
/// hammering the server in lockstep.
public struct RetryPolicy: Sendable {
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// `nil` retries until the task is cancelled.
    public var maxAttempts: Int?

    public init(baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10), maxAttempts: Int? = nil) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
    }

    /// The upper bound of the jittered delay before retry number `attempt` (0-based).
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let exponent = min(attempt, 30)
        let grown = baseDelay * (1 << exponent)
        return grown < maxDelay ? grown : maxDelay
    }

    /// A jittered delay in `[0, ceiling]`, drawn from `generator`.
    public func delay<G: RandomNumberGenerator>(forAttempt attempt: Int, using generator: inout G) -> Duration {
        let ceilingNanos = ceiling(forAttempt: attempt).nanoseconds
        guard ceilingNanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...ceilingNanos, using: &generator))
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds > 0 ? .max : .min }
        return scaled + attoseconds / 1_000_000_000
    }

    /// Seconds as a fraction, for rates and logs.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// Runs `operation` until it succeeds, retrying errors that `isRetriable` accepts with
/// the policy's jittered delays, and logging each retry with its cause.
public func withRetry<T: Sendable>(
    _ what: String,
    policy: RetryPolicy = RetryPolicy(),
    logger: Logger,
    isRetriable: @Sendable (any Error) -> Bool = { _ in true },
    operation: () async throws -> T
) async throws -> T {
    var generator = SystemRandomNumberGenerator()
    var attempt = 0
    while true {
        do {
            return try await operation()
        } catch {
            attempt += 1
            if let limit = policy.maxAttempts, attempt >= limit { throw error }
            if !isRetriable(error) || Task.isCancelled { throw error }
            let pause = policy.delay(forAttempt: attempt - 1, using: &generator)
            logger.warning("retrying after failure", metadata: [
                "retry.what": "\(what)",
                "retry.attempt": "\(attempt)",
                "retry.delay_ms": "\(pause.nanoseconds / 1_000_000)",
                "error": "\(error)",
            ])
            try await Task.sleep(for: pause)
        }
    }
}
