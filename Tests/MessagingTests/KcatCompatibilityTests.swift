import Foundation
import Testing
@testable import Messaging

/// The bus speaks plain Kafka: kcat (an independent librdkafka client) reads what it
/// writes and the other way round, through the embedded broker.
@Suite("kcat wire compatibility", .timeLimit(.minutes(2)))
struct KcatCompatibilityTests {
    @Test func kcatReadsWhatTheBusProduces() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = uniqueTopic("to-kcat")
        try broker.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: testLogger)
        _ = try await producer.sendAll((0..<5).map {
            KafkaProducerMessage(topic: topic, key: "key\($0)", value: Array("value \($0)".utf8))
        })
        try await producer.shutdown()

        let output = try await runTool("kcat", ["-C", "-b", broker.bootstrapServers, "-t", topic, "-o", "beginning",
                                                "-e", "-q", "-f", "%k %s\n"])
        #expect(output.split(separator: "\n") == (0..<5).map { "key\($0) value \($0)"[...] })
    }

    @Test func busReadsWhatKcatProduces() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        let topic = uniqueTopic("from-kcat")
        try broker.createTopic(topic, partitions: 1)
        _ = try await runTool("kcat", ["-P", "-b", broker.bootstrapServers, "-t", topic, "-K:"],
                              input: "alpha:first value\nbeta:second value\n")
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         consumer: testConsumerConfiguration(group: "group-\(topic)"),
                                         topics: [topic], logger: testLogger)
        let read = try await collect(consumer, count: 2)
        await consumer.close()
        #expect(read.map(\.keyString) == ["alpha", "beta"])
        #expect(read.map(\.valueString) == ["first value", "second value"])
    }
}

/// Runs a tool found on PATH, feeding `input`, and returns its stdout; throws on failure.
func runTool(_ name: String, _ arguments: [String], input: String? = nil) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let stdout = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardInput = stdin
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let data = try await Task.detached { try stdout.fileHandleForReading.readToEnd() ?? Data() }.value
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw KafkaError(.invalidArgument, "\(name) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
    return String(decoding: data, as: UTF8.self)
}
