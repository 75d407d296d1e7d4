import CRDKafka
import Logging

/// An idempotent producer (`enable.idempotence=true`, `acks=all`).
///
/// `send` enqueues a message and suspends until librdkafka's delivery report for it arrives;
/// the reports are served by a poll loop on a dedicated thread.
public final class KafkaProducer: Sendable {
    private struct Pending {
        var nextID: UInt = 1
        var waiting: [UInt: CheckedContinuation<KafkaDeliveryReport, any Error>] = [:]
        var closed = false
    }

    private let client: RDKafkaClient
    private let pending: LockedState<Pending>
    private let pollThread: PollThread
    private let logger: Logger

    public init(configuration: KafkaConfiguration, producer: KafkaProducerConfiguration = KafkaProducerConfiguration(),
                logger: Logger = Logger(label: "skinr1.kafka.producer")) throws {
        let pending = LockedState(Pending())
        let callbacks = RDKafkaCallbacks(logger: logger, onDelivery: { delivery in
            let continuation = pending.withLock { $0.waiting.removeValue(forKey: delivery.id) }
            guard let continuation else { return }
            if delivery.error == RD_KAFKA_RESP_ERR_NO_ERROR {
                continuation.resume(returning: KafkaDeliveryReport(
                    topic: delivery.topic, partition: delivery.partition, offset: delivery.offset))
            } else {
                var error = KafkaError.rdkafka(delivery.error, "message to '\(delivery.topic)' was not delivered")
                error.code = .delivery
                continuation.resume(throwing: error)
            }
        })
        let client = try RDKafkaClient(kind: .producer, settings: producer.dictionary(connection: configuration),
                                       callbacks: callbacks)
        self.client = client
        self.pending = pending
        self.logger = logger
        self.pollThread = PollThread(name: "skinr1.kafka.producer.poll") { thread in
            while !thread.isStopping { client.poll(timeoutMs: 100) }
        }
    }

    deinit {
        pollThread.stop()
    }

    /// Sends `message` and returns once the brokers acknowledged it (all in-sync replicas).
    /// Waits while librdkafka's local queue is full. Throws `KafkaError` with code `.delivery`
    /// when the message could not be delivered, `.shutDown` after `shutdown()`.
    public func send(_ message: KafkaProducerMessage) async throws -> KafkaDeliveryReport {
        while true {
            do {
                return try await enqueue(message)
            } catch let error as KafkaError where error.brokerCode == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue {
                // Back-pressure: delivery reports free the queue; the poll thread serves them.
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    private func enqueue(_ message: KafkaProducerMessage) async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let id: UInt? = pending.withLock { state in
                guard !state.closed else { return nil }
                let id = state.nextID
                state.nextID += 1
                state.waiting[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: KafkaError(.shutDown, "the producer is shut down"))
                return
            }
            do {
                try client.produce(topic: message.topic, partition: message.partition, key: message.key,
                                   value: message.value, headers: message.headers, id: id)
            } catch {
                pending.withLock { $0.waiting.removeValue(forKey: id) }?.resume(throwing: error)
            }
        }
    }

    /// Messages enqueued and not yet acknowledged or failed.
    public var inFlightCount: Int { client.outQueueLength }

    /// Waits until every enqueued message is acknowledged or failed; throws `.timedOut` with
    /// the number left when `timeout` passes first.
    public func flush(timeout: Duration = .seconds(30)) async throws {
        let client = self.client
        let ms = Int32(clamping: timeout.milliseconds)
        try await client.blocking { try client.flush(timeoutMs: ms) }
    }

    /// Refuses new messages, flushes those in flight, stops the poll thread, and fails any
    /// `send` still waiting (only possible when the flush timed out).
    public func shutdown(timeout: Duration = .seconds(30)) async throws {
        pending.withLock { $0.closed = true }
        var flushError: (any Error)? = nil
        do { try await flush(timeout: timeout) } catch { flushError = error }
        pollThread.stop()
        await pollThread.join()
        let abandoned = pending.withLock { state in
            defer { state.waiting = [:] }
            return state.waiting
        }
        for (_, continuation) in abandoned {
            continuation.resume(throwing: KafkaError(.shutDown, "the producer shut down before delivery was confirmed"))
        }
        if let flushError {
            logger.error("producer shut down with undelivered messages", metadata: [LogKey.error: "\(flushError)"])
            throw flushError
        }
    }
}

extension KafkaProducer {
    /// Sends every message with up to `maxInFlight` awaiting acknowledgement at once, and
    /// returns their delivery reports in input order. The first failure is thrown after the
    /// messages already enqueued have settled.
    public func sendAll(_ messages: [KafkaProducerMessage], maxInFlight: Int = 10_000) async throws -> [KafkaDeliveryReport] {
        var reports = [KafkaDeliveryReport?](repeating: nil, count: messages.count)
        try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
            var next = 0
            var inFlight = 0
            while next < messages.count || inFlight > 0 {
                while next < messages.count && inFlight < max(maxInFlight, 1) {
                    let index = next
                    let message = messages[index]
                    group.addTask { (index, try await self.send(message)) }
                    next += 1
                    inFlight += 1
                }
                if let (index, report) = try await group.next() {
                    reports[index] = report
                    inFlight -= 1
                }
            }
        }
        return reports.map { $0! }
    }
}
