import Backoff
import CRDKafka
import Logging

/// A member of a consumer group that commits offsets only when told to.
///
/// `enable.auto.commit=false`: the owner commits after its work for a message is durable
/// (`commit(_:)`), so a crash redelivers instead of losing. Messages are fetched by a poll
/// loop on a dedicated thread and read through `messages` or `nextBatch`. Rebalances are
/// handled here (assign/revoke) and reported on `events`.
///
/// Flow control: the poll thread pauses a partition once it holds its share of the buffer
/// (`bufferCapacity` over the partitions assigned), and every partition once `bufferCapacity`
/// messages are unread, and goes on polling, so a member whose owner is not reading (a
/// rollout worker refused admission) still answers rebalances at once and never overruns
/// `max.poll.interval.ms`. It resumes a partition once the owner has read half of its share,
/// and everything once half of the buffer. The shares keep partitions fair: when all were
/// paused and resumed together, the partition first in librdkafka's fetch filled the buffer
/// on every resume, and the others' messages fetched with it were dropped at the pause, so a
/// slow reader saw one partition drained before the next began.
public final class KafkaConsumer: Sendable {
    private struct Membership {
        var assignment: Set<KafkaTopicPartition> = []
        /// Start positions asked for partitions not (yet) assigned; used at assignment.
        var pendingStarts: [KafkaTopicPartition: Int64] = [:]
        var closed = false
        /// Paused by the owner (`pause(_:)`): flow control leaves them paused.
        var ownerPaused: Set<KafkaTopicPartition> = []
        /// The buffer filled: flow control holds every partition until it is half empty.
        var flowPaused = false
        /// Partitions flow control holds paused now: all of them while `flowPaused`, else
        /// those at their share of the buffer.
        var flowHeld: Set<KafkaTopicPartition> = []
        /// Counts assignment changes: positions the poll thread recorded before one are stale.
        var assignmentEpoch = 0
    }

    /// Internal (not private) so tests can break librdkafka's state behind the member's back.
    let client: RDKafkaClient
    private let membership: LockedState<Membership>
    private let buffer: MessageBuffer
    private let pollThread: PollThread
    private let eventSink: AsyncStream<KafkaConsumerEvent>.Continuation
    private let logger: Logger
    public let groupID: String
    /// Assignments, revocations and polling problems, newest kept when nobody reads them.
    public let events: AsyncStream<KafkaConsumerEvent>

    /// Joins `consumer.groupID` and subscribes to `topics`.
    public init(configuration: KafkaConfiguration, consumer: KafkaConsumerConfiguration, topics: [String],
                logger: Logger = Logger(label: "skinr1.kafka.consumer")) throws {
        guard !topics.isEmpty else { throw KafkaError(.invalidArgument, "a consumer needs at least one topic") }
        var logger = logger
        logger[metadataKey: LogKey.group] = "\(consumer.groupID)"
        let membership = LockedState(Membership())
        let buffer = MessageBuffer(capacity: consumer.bufferCapacity)
        let (events, eventSink) = AsyncStream.makeStream(of: KafkaConsumerEvent.self,
                                                         bufferingPolicy: .bufferingNewest(256))
        let groupLogger = logger
        let callbacks = RDKafkaCallbacks(logger: logger, onRebalance: { handle, code, list in
            Self.rebalance(handle: handle, code: code, list: list, membership: membership, buffer: buffer,
                           events: eventSink, logger: groupLogger)
        })
        let client = try RDKafkaClient(kind: .consumer, settings: consumer.dictionary(connection: configuration),
                                       callbacks: callbacks)
        try client.subscribe(topics)
        self.client = client
        self.membership = membership
        self.buffer = buffer
        self.events = events
        self.eventSink = eventSink
        self.logger = logger
        self.groupID = consumer.groupID
        self.pollThread = PollThread(name: "skinr1.kafka.consumer.poll") { thread in
            Self.pollLoop(client: client, buffer: buffer, membership: membership, events: eventSink, thread: thread,
                          stallTimeout: consumer.stallTimeout, reset: consumer.autoOffsetReset, logger: groupLogger)
        }
    }

    deinit {
        pollThread.stop()
        eventSink.finish()
    }

    /// Every message, in order per partition, until `close()`.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(buffer: buffer) }

    /// Up to `maxCount` messages: whatever is buffered, else the first to arrive within
    /// `maxWait`. `[]` when nothing arrived in time, nil once the consumer is closed.
    public func nextBatch(maxCount: Int, maxWait: Duration) async throws -> [KafkaConsumerMessage]? {
        try await buffer.take(maxCount: maxCount, timeout: maxWait)
    }

    /// Partitions this member owns right now.
    public var assignment: [KafkaTopicPartition] {
        membership.withLock { Array($0.assignment) }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    // MARK: Offsets

    /// Synchronously commits `message.offset + 1` for its partition: call it after the work
    /// for the message (and everything before it in the partition) is durable.
    public func commit(_ message: KafkaConsumerMessage) async throws {
        try await commit(offsets: [KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition,
                                                             offset: message.offset + 1)])
    }

    /// Commits, for each partition present, one past the highest offset among `messages`.
    public func commit(_ messages: [KafkaConsumerMessage]) async throws {
        var next: [KafkaTopicPartition: Int64] = [:]
        for message in messages {
            next[message.topicPartition] = max(next[message.topicPartition] ?? Int64.min, message.offset + 1)
        }
        try await commit(offsets: next.map {
            KafkaTopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value)
        })
    }

    /// Commits explicit positions; each `offset` is the next one the group should read.
    public func commit(offsets: [KafkaTopicPartitionOffset]) async throws {
        guard !offsets.isEmpty else { return }
        let client = self.client
        try await client.blocking { try client.commit(offsets) }
    }

    /// The group's committed positions for `partitions` (-1001 where none is committed).
    public func committed(_ partitions: [KafkaTopicPartition],
                          timeout: Duration = .seconds(10)) async throws -> [KafkaTopicPartitionOffset] {
        let client = self.client
        let ms = Int32(clamping: timeout.milliseconds)
        return try await client.blocking { try client.committed(partitions, timeoutMs: ms) }
    }

    // MARK: Position and flow control

    /// Moves the read position of a partition. For a partition not assigned yet, the
    /// position is kept and used when it is assigned (how a restored checkpoint resumes).
    public func seek(topic: String, partition: Int32, offset: Int64, timeout: Duration = .seconds(10)) async throws {
        let target = KafkaTopicPartition(topic: topic, partition: partition)
        let assigned = membership.withLock { state -> Bool in
            if state.assignment.contains(target) { return true }
            state.pendingStarts[target] = offset
            return false
        }
        guard assigned else {
            logger.info("start position recorded for a partition not yet assigned",
                        metadata: [LogKey.topic: "\(topic)", LogKey.partition: "\(partition)", LogKey.offset: "\(offset)"])
            return
        }
        let isTarget: (KafkaConsumerMessage) -> Bool = { $0.topic == topic && $0.partition == partition }
        buffer.drop(where: isTarget)
        let client = self.client
        let ms = Int32(clamping: timeout.milliseconds)
        try await client.blocking {
            try client.seek([KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offset)], timeoutMs: ms)
        }
        buffer.drop(where: isTarget)
    }

    /// Stops fetching from `partitions` until `resume(_:)`; messages already buffered are
    /// still delivered.
    public func pause(_ partitions: [KafkaTopicPartition]) async throws {
        let client = self.client, membership = self.membership
        try await client.blocking {
            try membership.withLock { state in
                state.ownerPaused.formUnion(partitions)
                try client.pause(partitions)
            }
        }
    }

    /// Fetches from `partitions` again (when flow control resumes, if it has them paused).
    public func resume(_ partitions: [KafkaTopicPartition]) async throws {
        let client = self.client, membership = self.membership
        try await client.blocking {
            try membership.withLock { state in
                state.ownerPaused.subtract(partitions)
                let free = partitions.filter { !state.flowHeld.contains($0) }
                if !free.isEmpty { try client.resume(free) }
            }
        }
    }

    /// Leaves the group cleanly (its partitions move to other members at once) and ends
    /// `messages` and `events`. Unread buffered messages are not committed.
    public func close() async {
        membership.withLock { $0.closed = true }
        pollThread.stop()
        await pollThread.join()
        eventSink.finish()
    }

    // MARK: Poll thread

    private static func pollLoop(client: RDKafkaClient, buffer: MessageBuffer, membership: LockedState<Membership>,
                                 events: AsyncStream<KafkaConsumerEvent>.Continuation,
                                 thread: PollThread, stallTimeout: Duration, reset: KafkaConsumerConfiguration.OffsetReset,
                                 logger: Logger) {
        var fatal: KafkaError? = nil
        var watch = StallWatch(timeout: stallTimeout, reset: reset)
        while !thread.isStopping {
            let paused = applyFlowControl(client: client, buffer: buffer, membership: membership, logger: logger)
            watch.tick(client: client, buffer: buffer, membership: membership, events: events, logger: logger)
            // While paused, wait for the owner to read rather than for the broker, then poll
            // without waiting: that serves rebalances, heartbeats and the poll deadline.
            if paused { buffer.waitUntilLow(timeout: 0.1) }
            guard let raw = client.consumerPoll(timeoutMs: paused ? 0 : 100) else { continue }
            let code = raw.pointee.err
            if code == RD_KAFKA_RESP_ERR_NO_ERROR {
                let message = KafkaConsumerMessage(copying: raw)
                rd_kafka_message_destroy(raw)
                watch.delivered(message, epoch: membership.withLock { $0.assignmentEpoch })
                buffer.append(message)
                continue
            }
            let text = raw.pointee.payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: raw.pointee.len), as: UTF8.self)
            } ?? String(cString: rd_kafka_err2str(code))
            rd_kafka_message_destroy(raw)
            if code == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
            if code == RD_KAFKA_RESP_ERR__FATAL {
                fatal = client.fatalError() ?? KafkaError.rdkafka(code, text)
                logger.error("consumer failed fatally", metadata: [LogKey.error: "\(text)"])
                break
            }
            logger.warning("consumer poll reported a problem", metadata: [LogKey.error: "\(text)"])
            events.yield(.error(text))
        }
        do {
            try client.consumerClose()
            logger.info("left the consumer group")
        } catch {
            logger.warning("leaving the consumer group failed", metadata: [LogKey.error: "\(error)"])
        }
        buffer.finish(error: fatal)
    }

    /// Holds paused what should not fetch now: every partition from the moment the buffer is
    /// full until it is half empty, else each partition holding its share of the buffer
    /// until it holds half of it (resuming at every free slot would fetch again for each
    /// message read). Never resumes what the owner paused. Returns whether the buffer is full.
    private static func applyFlowControl(client: RDKafkaClient, buffer: MessageBuffer, membership: LockedState<Membership>,
                                         logger: Logger) -> Bool {
        let (level, held) = buffer.occupancy
        do {
            return try membership.withLock { state in
                if state.flowPaused && level == .low {
                    state.flowPaused = false
                    logger.debug("buffer half empty: partitions resumed")
                } else if !state.flowPaused && level == .full {
                    state.flowPaused = true
                    logger.debug("buffer full: partitions paused")
                }
                let share = max(1, buffer.capacity / max(1, state.assignment.count))
                let wanted = state.flowPaused ? state.assignment : state.assignment.filter { partition in
                    let count = held[partition] ?? 0
                    return count >= share || (state.flowHeld.contains(partition) && count > share / 2)
                }
                let pausing = wanted.subtracting(state.flowHeld)
                let resuming = state.flowHeld.subtracting(wanted).intersection(state.assignment).subtracting(state.ownerPaused)
                if !pausing.isEmpty { try client.pause(Array(pausing)) }
                if !resuming.isEmpty { try client.resume(Array(resuming)) }
                state.flowHeld = wanted
                return state.flowPaused
            }
        } catch {
            logger.warning("flow control could not pause or resume", metadata: [LogKey.error: "\(error)"])
            return membership.withLock { $0.flowPaused }
        }
    }

    /// Finds partitions whose fetch stopped without a pause of ours, and restarts them.
    ///
    /// A partition is suspect once it has delivered nothing for `timeout` of fetching time:
    /// time it was assigned and paused neither by the owner nor by flow control. Counting
    /// only that time, a pause is never taken for a stall, and the short fetch windows of a
    /// slow reader add up instead of each starting the count again.
    ///
    /// A suspect partition is restarted when the caller waits (buffer low) and the broker
    /// holds messages past the offset it should go on from: the member's own record (one past
    /// the last message it buffered since the assignment last changed), else librdkafka's
    /// position, else the group's committed offset, else where `auto.offset.reset` starts.
    /// The last covers a partition that never delivered at all, such as one whose first
    /// offset lookup librdkafka discards as outdated whenever a pause or resume lands while
    /// it is under way. The restart does not rely on the state that may have gone wrong: the
    /// partition is resumed (clearing a pause librdkafka may still hold) and sought to an
    /// absolute offset, so nothing is skipped or delivered twice. Poll-thread state.
    private struct StallWatch {
        let timeout: Duration
        let reset: KafkaConsumerConfiguration.OffsetReset
        /// Fetching time since each partition last delivered (or was last checked).
        private var silence: [KafkaTopicPartition: Duration] = [:]
        private var nextOffset: [KafkaTopicPartition: Int64] = [:]
        private var epoch = 0
        private var lastTick = ContinuousClock.now

        init(timeout: Duration, reset: KafkaConsumerConfiguration.OffsetReset) {
            self.timeout = timeout
            self.reset = reset
        }

        /// Records a message polled while the assignment was at `epoch`.
        mutating func delivered(_ message: KafkaConsumerMessage, epoch: Int) {
            forgetPositions(unless: epoch)
            silence[message.topicPartition] = .zero
            nextOffset[message.topicPartition] = message.offset + 1
        }

        /// What was recorded under an earlier assignment may be stale: another member may
        /// have read further, and a new assignment starts fetching afresh.
        private mutating func forgetPositions(unless epoch: Int) {
            guard epoch != self.epoch else { return }
            nextOffset = [:]
            silence = [:]
            self.epoch = epoch
        }

        /// How often the poll loop's turns are counted: each turn is one message when they
        /// flow, so the count is taken at most this often, crediting the time since the last.
        private static let granularity = Duration.milliseconds(100)

        /// On a turn of the poll loop (at most every `granularity`): adds the time since the
        /// last count to the silence of each partition fetching now, then restarts those
        /// silent for `timeout`.
        mutating func tick(client: RDKafkaClient, buffer: MessageBuffer, membership: LockedState<Membership>,
                           events: AsyncStream<KafkaConsumerEvent>.Continuation, logger: Logger) {
            let now = ContinuousClock.now
            let elapsed = now - lastTick
            guard elapsed >= Self.granularity else { return }
            lastTick = now
            let (watched, fetching, epoch) = membership.withLock { state in
                let watched = state.assignment.subtracting(state.ownerPaused)
                return (watched, watched.subtracting(state.flowHeld), state.assignmentEpoch)
            }
            forgetPositions(unless: epoch)
            silence = silence.filter { watched.contains($0.key) }
            for partition in fetching { silence[partition, default: .zero] += elapsed }
            let silent = fetching.filter { silence[$0]! >= timeout }
            guard !silent.isEmpty, buffer.level == .low else { return }
            for partition in silent { silence[partition] = .zero }
            // Where each should go on: the member's record, else librdkafka's position, else
            // the group's committed offset (nothing read since the assignment changed).
            var starts = nextOffset.filter { silent.contains($0.key) }
            if starts.count < silent.count, let positions = try? client.positions(silent.filter { starts[$0] == nil }) {
                for position in positions where position.offset >= 0 { starts[position.topicPartition] = position.offset }
            }
            if starts.count < silent.count,
               let committed = try? client.committed(silent.filter { starts[$0] == nil }, timeoutMs: 2_000) {
                for offset in committed where offset.offset >= 0 { starts[offset.topicPartition] = offset.offset }
            }
            for partition in silent.sorted(by: { ($0.topic, $0.partition) < ($1.topic, $1.partition) }) {
                let marks: (low: Int64, high: Int64)
                do {
                    marks = try client.watermarks(partition, timeoutMs: 2_000)
                } catch {
                    logger.warning("could not check whether a silent partition has more to read",
                                   metadata: [LogKey.topic: "\(partition.topic)", LogKey.partition: "\(partition.partition)",
                                              LogKey.error: "\(error)"])
                    continue
                }
                // Nothing read, no position, nothing committed: where the reset policy starts.
                let start = starts[partition] ?? (reset == .earliest ? marks.low : marks.high)
                guard marks.high > start else { continue }
                let restarted = membership.withLock { state -> Bool in
                    guard !state.flowHeld.contains(partition), state.assignment.contains(partition),
                          !state.ownerPaused.contains(partition), state.assignmentEpoch == epoch else { return false }
                    do {
                        try client.resume([partition])
                        try client.seek([KafkaTopicPartitionOffset(topic: partition.topic, partition: partition.partition,
                                                                   offset: start)], timeoutMs: 5_000)
                        return true
                    } catch {
                        logger.warning("could not restart a stalled fetch", metadata: [LogKey.error: "\(error)"])
                        return false
                    }
                }
                guard restarted else { continue }
                logger.warning("partition delivered nothing while the broker held more: fetch restarted",
                               metadata: [LogKey.topic: "\(partition.topic)", LogKey.partition: "\(partition.partition)",
                                          LogKey.offset: "\(start)", LogKey.count: "\(marks.high - start)",
                                          LogKey.startFrom: "\(starts[partition] == nil ? "reset policy" : "last position")"])
                events.yield(.fetchRestarted(partition, behind: marks.high - start))
            }
        }
    }

    /// librdkafka's rebalance callback, on the poll thread: take or give up partitions,
    /// applying start positions recorded by `seek`.
    private static func rebalance(handle: OpaquePointer, code: rd_kafka_resp_err_t, list: RDKafkaTopicPartitionList,
                                  membership: LockedState<Membership>, buffer: MessageBuffer,
                                  events: AsyncStream<KafkaConsumerEvent>.Continuation, logger: Logger) {
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        let partitions = list.partitions
        let names = partitions.map(\.description).joined(separator: ",")
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = membership.withLock { state -> [KafkaTopicPartition: Int64] in
                state.assignment.formUnion(partitions)
                state.assignmentEpoch += 1
                var starts: [KafkaTopicPartition: Int64] = [:]
                for partition in partitions {
                    if let offset = state.pendingStarts.removeValue(forKey: partition) { starts[partition] = offset }
                }
                return starts
            }
            for (partition, offset) in starts {
                list.setOffset(topic: partition.topic, partition: partition.partition, offset: offset)
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, list.pointer) {
                    logger.error("incremental assign failed",
                                 metadata: [LogKey.error: "\(KafkaError.consuming(error, "assign"))"])
                }
            } else {
                let result = rd_kafka_assign(handle, list.pointer)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.error("assign failed", metadata: [LogKey.error: "\(String(cString: rd_kafka_err2str(result)))"])
                }
            }
            logger.info("partitions assigned", metadata: [LogKey.partitions: "\(names)",
                                                          LogKey.startOffsets: "\(starts.count)"])
            events.yield(.assigned(partitions))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let revoked = Set(partitions)
            let unpause = membership.withLock { state -> Set<KafkaTopicPartition> in
                state.assignment.subtract(revoked)
                state.assignmentEpoch += 1
                let unpause = state.flowHeld.intersection(revoked).subtracting(state.ownerPaused)
                state.flowHeld.subtract(revoked)
                return unpause
            }
            releaseFlowHold(unpause, handle: handle, logger: logger)
            // Their uncommitted messages now belong to the member that takes them over.
            buffer.drop { revoked.contains($0.topicPartition) }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, list.pointer) {
                    logger.error("incremental unassign failed",
                                 metadata: [LogKey.error: "\(KafkaError.consuming(error, "unassign"))"])
                }
            } else {
                rd_kafka_assign(handle, nil)
            }
            logger.info("partitions revoked", metadata: [LogKey.partitions: "\(names)"])
            events.yield(.revoked(partitions))
        default:
            let text = String(cString: rd_kafka_err2str(code))
            let unpause = membership.withLock { state -> Set<KafkaTopicPartition> in
                state.assignment.removeAll()
                state.assignmentEpoch += 1
                defer { state.flowHeld.removeAll() }
                return state.flowHeld.subtracting(state.ownerPaused)
            }
            releaseFlowHold(unpause, handle: handle, logger: logger)
            buffer.drop { _ in true }
            rd_kafka_assign(handle, nil)
            logger.error("rebalance failed; assignment cleared", metadata: [LogKey.error: "\(text)"])
            events.yield(.error("rebalance failed: \(text)"))
        }
    }
}

extension KafkaConsumer {
    /// librdkafka keeps a partition's pause across rebalances: one flow control held must not
    /// come back paused if it is assigned again later.
    private static func releaseFlowHold(_ partitions: Set<KafkaTopicPartition>, handle: OpaquePointer, logger: Logger) {
        guard !partitions.isEmpty else { return }
        let resumed = RDKafkaTopicPartitionList(Array(partitions))
        let code = withExtendedLifetime(resumed) { rd_kafka_resume_partitions(handle, resumed.pointer) }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("could not resume partitions flow control held", metadata: [LogKey.error: "\(String(cString: rd_kafka_err2str(code)))"])
        }
    }

    /// Commits `messages` once their work is durable, retrying passing failures (coordinator
    /// moving, broker restarting) with `policy`. Returns false when the commit was refused
    /// because the partitions moved to another member in a rebalance: that member reads
    /// those messages again (at-least-once), so it is not an error.
    @discardableResult
    public func commitProcessed(_ messages: [KafkaConsumerMessage],
                                policy: RetryPolicy = RetryPolicy(baseDelay: .milliseconds(50), maxDelay: .seconds(2),
                                                                  maxAttempts: 10)) async throws -> Bool {
        do {
            try await withRetry("offset commit", policy: policy, logger: logger, isRetriable: { error in
                guard let error = error as? KafkaError else { return false }
                return error.isRetriable && !error.isRebalanceConflict
            }) {
                try await self.commit(messages)
            }
            return true
        } catch let error as KafkaError where error.isRebalanceConflict {
            logger.warning("commit refused after a rebalance; those messages will be read again",
                           metadata: [LogKey.count: "\(messages.count)", LogKey.error: "\(error)"])
            return false
        }
    }
}
