import Foundation

/// Hands consumed messages from the poll thread to async callers. `capacity` is the bound
/// the poll thread keeps to: it pauses a partition holding its share of the buffer, and
/// everything when the buffer is full, resuming at half of either, polling all the while
/// (so the member keeps answering rebalances and its poll deadline); a message that was
/// already fetched when it paused is still appended.
///
/// `@unchecked Sendable`: every mutable field is read and written only while holding
/// `condition`; continuations are resumed after releasing it.
final class MessageBuffer: @unchecked Sendable {
    private struct Waiter {
        var id: UInt64
        var maxCount: Int
        var continuation: CheckedContinuation<[KafkaConsumerMessage]?, any Error>
    }

    private let condition = NSCondition()
    private var items: [KafkaConsumerMessage] = []
    /// How many of `items` each partition holds.
    private var held: [KafkaTopicPartition: Int] = [:]
    private var waiters: [Waiter] = []
    private var cancelledWaiters: Set<UInt64> = []
    private var nextWaiterID: UInt64 = 0
    private var finished = false
    private var failure: (any Error)? = nil
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    // MARK: Poll-thread side

    /// Adds a message without waiting (to a waiting caller if there is one). Returns false,
    /// dropping the message, once the buffer is finished.
    @discardableResult
    func append(_ message: KafkaConsumerMessage) -> Bool {
        condition.lock()
        if finished { condition.unlock(); return false }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            condition.unlock()
            waiter.continuation.resume(returning: [message])
            return true
        }
        items.append(message)
        held[message.topicPartition, default: 0] += 1
        condition.unlock()
        return true
    }

    /// How full the buffer is, for flow control.
    enum Level { case low, middle, full }

    /// `.full` with `capacity` or more messages unread, `.low` with half of it or less.
    var level: Level {
        condition.lock()
        defer { condition.unlock() }
        return level(of: items.count)
    }

    /// The level, and how many unread messages each partition holds, read together.
    var occupancy: (level: Level, perPartition: [KafkaTopicPartition: Int]) {
        condition.lock()
        defer { condition.unlock() }
        return (level(of: items.count), held)
    }

    /// Waits up to `timeout` (on the calling thread) until the buffer is down to `.low` or
    /// finished.
    func waitUntilLow(timeout: TimeInterval) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while level(of: items.count) != .low && !finished {
            if !condition.wait(until: deadline) { break }
        }
    }

    private func level(of count: Int) -> Level {
        count >= capacity ? .full : (count <= capacity / 2 ? .low : .middle)
    }

    /// Ends the sequence: unread messages are dropped (their offsets were not committed, so
    /// the group delivers them again), waiting callers get `nil` or `error`.
    func finish(error: (any Error)? = nil) {
        condition.lock()
        finished = true
        failure = error
        items.removeAll()
        held.removeAll()
        let woken = waiters
        waiters.removeAll()
        condition.broadcast()
        condition.unlock()
        for waiter in woken {
            if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume(returning: nil) }
        }
    }

    /// Forgets unread messages that match, e.g. of partitions revoked or sought.
    func drop(where predicate: (KafkaConsumerMessage) -> Bool) {
        condition.lock()
        items.removeAll(where: predicate)
        held = Dictionary(items.map { ($0.topicPartition, 1) }, uniquingKeysWith: +)
        condition.broadcast()
        condition.unlock()
    }

    // MARK: Caller side

    /// Up to `maxCount` messages: at once if any are buffered, else the first to arrive within
    /// `timeout` (`nil` waits indefinitely). Returns `[]` on timeout and `nil` once finished.
    func take(maxCount: Int, timeout: Duration?) async throws -> [KafkaConsumerMessage]? {
        let id = allocateWaiterID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                condition.lock()
                if !items.isEmpty {
                    let count = min(max(maxCount, 1), items.count)
                    let batch = Array(items.prefix(count))
                    items.removeFirst(count)
                    for message in batch {
                        let left = held[message.topicPartition, default: 1] - 1
                        held[message.topicPartition] = left > 0 ? left : nil
                    }
                    condition.broadcast()
                    condition.unlock()
                    continuation.resume(returning: batch)
                    return
                }
                if finished {
                    let failure = self.failure
                    condition.unlock()
                    if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
                    return
                }
                if cancelledWaiters.remove(id) != nil {
                    condition.unlock()
                    continuation.resume(throwing: CancellationError())
                    return
                }
                if let timeout, timeout <= .zero {
                    condition.unlock()
                    continuation.resume(returning: [])
                    return
                }
                waiters.append(Waiter(id: id, maxCount: maxCount, continuation: continuation))
                condition.broadcast()
                condition.unlock()
                if let timeout {
                    Task { [self] in
                        try? await Task.sleep(for: timeout)
                        self.resumeWaiter(id, with: .success([]))
                    }
                }
            }
        } onCancel: {
            condition.lock()
            let present = waiters.contains { $0.id == id }
            if !present { cancelledWaiters.insert(id) }
            condition.unlock()
            if present { resumeWaiter(id, with: .failure(CancellationError())) }
        }
    }

    private func allocateWaiterID() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextWaiterID += 1
        return nextWaiterID
    }

    private func resumeWaiter(_ id: UInt64, with result: Result<[KafkaConsumerMessage]?, any Error>) {
        condition.lock()
        guard let index = waiters.firstIndex(where: { $0.id == id }) else {
            condition.unlock()
            return
        }
        let waiter = waiters.remove(at: index)
        condition.unlock()
        waiter.continuation.resume(with: result)
    }
}
