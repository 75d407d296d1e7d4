import CRDKafka
import Logging

/// An idempotent producer (`enable.idempotence=true`, `acks=all`).
///
/// `send` enqueues a message and suspends until librdkafka's delivery report for it arrives;
/// the reports are served by a poll loop on a dedicated thread. Messages are handed to
/// librdkafka in the order of the calls that enqueue them (`sendAll` keeps its input order),
/// and idempotence keeps that order per partition through retries.
public final class KafkaProducer: Sendable {
    private struct Pending {
        var nextID: UInt = 1
        var waiting: [UInt: PendingDelivery] = [:]
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
            guard let waiting = pending.withLock({ $0.waiting.removeValue(forKey: delivery.id) }) else { return }
            if delivery.error == RD_KAFKA_RESP_ERR_NO_ERROR {
                waiting.settle(.success(KafkaDeliveryReport(topic: delivery.topic, partition: delivery.partition,
                                                            offset: delivery.offset)))
            } else {
                var error = KafkaError.rdkafka(delivery.error, "message to '\(delivery.topic)' was not delivered")
                error.code = .delivery
                waiting.settle(.failure(error))
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
        try await enqueueWhenRoom(message).report
    }

    /// Hands `message` to librdkafka, waiting while its local queue is full (delivery reports
    /// free it; the poll thread serves them), and returns its report to await.
    private func enqueueWhenRoom(_ message: KafkaProducerMessage) async throws -> PendingDelivery {
        while true {
            do {
                return try enqueue(message)
            } catch let error as KafkaError where error.brokerCode == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    private func enqueue(_ message: KafkaProducerMessage) throws -> PendingDelivery {
        let delivery = PendingDelivery()
        let id: UInt? = pending.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.waiting[id] = delivery
            return id
        }
        guard let id else { throw KafkaError(.shutDown, "the producer is shut down") }
        do {
            try client.produce(topic: message.topic, partition: message.partition, key: message.key,
                               value: message.value, headers: message.headers, id: id)
        } catch {
            pending.withLock { _ = $0.waiting.removeValue(forKey: id) }
            throw error
        }
        return delivery
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
        for (_, delivery) in abandoned {
            delivery.settle(.failure(KafkaError(.shutDown, "the producer shut down before delivery was confirmed")))
        }
        if let flushError {
            logger.error("producer shut down with undelivered messages", metadata: [LogKey.error: "\(flushError)"])
            throw flushError
        }
    }
}

extension KafkaProducer {
    /// Sends every message, handing them to librdkafka in input order (so a partition holds
    /// them in that order) with up to `maxInFlight` awaiting acknowledgement at once, and
    /// returns their delivery reports in input order. After a failure nothing more is
    /// enqueued; the first failure is thrown once the messages already enqueued have settled.
    public func sendAll(_ messages: [KafkaProducerMessage], maxInFlight: Int = 10_000) async throws -> [KafkaDeliveryReport] {
        var deliveries: [PendingDelivery] = []
        var reports: [KafkaDeliveryReport] = []
        var failure: (any Error)? = nil
        for message in messages {
            do {
                if deliveries.count - reports.count >= max(maxInFlight, 1) {
                    reports.append(try await deliveries[reports.count].report)
                }
                deliveries.append(try await enqueueWhenRoom(message))
            } catch {
                failure = error
                break
            }
        }
        for delivery in deliveries.dropFirst(reports.count) {
            do {
                let report = try await delivery.report
                if failure == nil { reports.append(report) }
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        return reports
    }
}

/// One enqueued message's delivery report: settled once by the delivery callback (or by
/// `shutdown`), awaited by the sender, in either order.
private final class PendingDelivery: Sendable {
    private enum State {
        case waiting(CheckedContinuation<KafkaDeliveryReport, any Error>?)
        case settled(Result<KafkaDeliveryReport, any Error>)
    }

    private let state = LockedState(State.waiting(nil))

    func settle(_ result: Result<KafkaDeliveryReport, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaDeliveryReport, any Error>? in
            guard case .waiting(let waiter) = state else { return nil }
            state = .settled(result)
            return waiter
        }
        waiter?.resume(with: result)
    }

    var report: KafkaDeliveryReport {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let settled = state.withLock { state -> Result<KafkaDeliveryReport, any Error>? in
                    switch state {
                    case .settled(let result): return result
                    case .waiting: state = .waiting(continuation); return nil
                    }
                }
                if let settled { continuation.resume(with: settled) }
            }
        }
    }
}
