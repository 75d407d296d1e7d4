import ArgumentParser
import Foundation
import Logging
import Messaging
import ServiceRuntime
import Synchronization

struct BusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "Produce and consume test traffic on the bus.",
        subcommands: [BusProduce.self, BusConsume.self])
}

/// `--bootstrap-servers`, else `KAFKA_BOOTSTRAP_SERVERS`; other `KAFKA_*` variables pass
/// through as librdkafka keys.
struct BusConnectionOptions: ParsableArguments {
    @Option(help: "Comma-separated host:port list (default: $KAFKA_BOOTSTRAP_SERVERS).")
    var bootstrapServers: String?

    func configuration() throws -> KafkaConfiguration {
        var environment = ProcessInfo.processInfo.environment
        if let bootstrapServers { environment["KAFKA_BOOTSTRAP_SERVERS"] = bootstrapServers }
        guard environment["KAFKA_BOOTSTRAP_SERVERS"] != nil else {
            throw ValidationError("give --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
        }
        return try KafkaConfiguration.fromEnvironment(environment)
    }
}

struct BusProduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Send COUNT keyed messages (keys PREFIX0..PREFIX<COUNT-1>), await every delivery report, print the count.")

    @OptionGroup var connection: BusConnectionOptions
    @Option(help: "Topic to write to.") var topic: String
    @Option(help: "Number of messages.") var count: Int
    @Option(help: "Key prefix; message i has key PREFIX<i>.") var keyPrefix: String = "key-"
    @Option(help: "Value size in bytes.") var size: Int = 100

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must not be negative, got \(count)") }
        guard size >= 0 else { throw ValidationError("--size must not be negative, got \(size)") }
    }

    func run() async throws {
        let producer = try KafkaProducer(configuration: connection.configuration(),
                                         logger: Logger(label: "skinr1.bus.produce"))
        let messages = (0..<count).map { index -> KafkaProducerMessage in
            let key = "\(keyPrefix)\(index)"
            var value = Array(key.utf8.prefix(size))
            value += [UInt8](repeating: UInt8(ascii: "."), count: size - value.count)
            return KafkaProducerMessage(topic: topic, key: key, value: value)
        }
        let reports = try await producer.sendAll(messages)
        try await producer.shutdown()
        Console.line("\(reports.count)")
    }
}

struct BusConsume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Consume in a group, appending each key as a line to FILE; the file is fsynced before offsets are committed.")

    @OptionGroup var connection: BusConnectionOptions
    @Option(help: "Topic to read.") var topic: String
    @Option(help: "Consumer group.") var group: String
    @Option(help: "File to append keys to.") var out: String
    @Option(help: "Exit after processing this many messages.") var expect: Int?
    @Option(help: "Once a message has arrived, exit after this many seconds without another.") var idleExit: Double?

    func validate() throws {
        if let expect, expect < 1 { throw ValidationError("--expect must be positive, got \(expect)") }
        if let idleExit, idleExit <= 0 { throw ValidationError("--idle-exit must be positive, got \(idleExit)") }
    }

    func run() async throws {
        let logger = Logger(label: "skinr1.bus.consume")
        // SIGTERM/SIGINT end the loop between batches, so the member leaves the group cleanly.
        let signal = TerminationSignal()
        let stopping = Mutex(false)
        let watcher = Task {
            _ = await signal.wait()
            stopping.withLock { $0 = true }
        }
        defer { watcher.cancel() }
        let descriptor = open(out, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw BusFailure("cannot open --out \(out): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let consumer = try KafkaConsumer(configuration: connection.configuration(),
                                         consumer: KafkaConsumerConfiguration(groupID: group),
                                         topics: [topic], logger: logger)
        var processed = 0
        // The idle clock starts with the first message: joining the group and the first
        // assignment can take longer than the limit on a loaded machine.
        var lastActivity: ContinuousClock.Instant?
        let idleLimit = idleExit.map { Duration.milliseconds(Int64($0 * 1000)) }
        while !stopping.withLock({ $0 }) {
            guard let batch = try await consumer.nextBatch(maxCount: 2_000, maxWait: .milliseconds(200)) else { break }
            if batch.isEmpty {
                if let idleLimit, let lastActivity, ContinuousClock.now - lastActivity >= idleLimit {
                    logger.info("idle limit reached; leaving the group", metadata: ["processed": "\(processed)"])
                    break
                }
                continue
            }
            lastActivity = ContinuousClock.now
            // Durable first, committed second: a crash between the two only repeats keys.
            var lines = ""
            for message in batch { lines += (message.keyString ?? "-") + "\n" }
            try writeAll(Array(lines.utf8), to: descriptor)
            guard fsync(descriptor) == 0 else {
                throw BusFailure("fsync of \(out) failed: \(String(cString: strerror(errno)))")
            }
            try await consumer.commitProcessed(batch)
            processed += batch.count
            if let expect, processed >= expect { break }
        }
        await consumer.close()
        Console.line("\(processed)")
    }

    private func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                throw BusFailure("write to \(out) failed: \(String(cString: strerror(errno)))")
            }
            written += result
        }
    }
}

/// A runtime failure of a bus, broker or bench command (printed without the usage text).
struct BusFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

