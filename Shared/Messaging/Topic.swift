import Foundation

/// The product's topic names.
public enum TopicName {
    /// Key: trajectory id.
    public static let sftTrajectories = "skinr1.sft.trajectories"
    /// Key: prompt id.
    public static let rlPrompts = "skinr1.rl.prompts"
    /// Key: rollout group id.
    public static let rlRollouts = "skinr1.rl.rollouts"
    /// Key: rollout group id.
    public static let rlScored = "skinr1.rl.scored"
    /// Key: run id.
    public static let policyVersions = "skinr1.policy.versions"
    /// Key: the original message's key.
    public static let deadLetter = "skinr1.deadletter"

    public static let all = [sftTrajectories, rlPrompts, rlRollouts, rlScored, policyVersions, deadLetter]
}

/// A topic whose values are `Value`, each wrapped in a JSON envelope
/// `{"schema": ..., "version": ..., "payload": ...}` so that a reader can tell what it holds
/// before decoding it.
public struct Topic<Value: Codable & Sendable>: Sendable, Hashable {
    public let name: String
    public let schema: String
    public let version: Int

    public init(_ name: String, schema: String, version: Int) {
        self.name = name
        self.schema = schema
        self.version = version
    }

    /// The envelope's bytes for `value`.
    public func encode(_ value: Value) throws -> [UInt8] {
        let envelope = Envelope(schema: schema, version: version, payload: value)
        do {
            return Array(try EnvelopeCoding.encoder.encode(envelope))
        } catch {
            throw EnvelopeError(.payload, topic: name, detail: "could not encode \(schema) v\(version): \(error)")
        }
    }

    /// The value in an envelope, after checking it holds this topic's schema and version.
    public func decode(_ bytes: [UInt8]) throws -> Value {
        let data = Data(bytes)
        let header: EnvelopeHeader
        do {
            header = try EnvelopeCoding.decoder.decode(EnvelopeHeader.self, from: data)
        } catch {
            let preview = String(decoding: bytes.prefix(80), as: UTF8.self)
            throw EnvelopeError(.notAnEnvelope, topic: name,
                                detail: "expected a JSON envelope {schema, version, payload}, got \(bytes.count) byte(s) starting '\(preview)'")
        }
        guard header.schema == schema else {
            throw EnvelopeError(.schemaMismatch, topic: name,
                                detail: "expected schema '\(schema)', found '\(header.schema)' (version \(header.version))")
        }
        guard header.version == version else {
            throw EnvelopeError(.versionMismatch, topic: name,
                                detail: "schema '\(schema)' expected version \(version), found version \(header.version)")
        }
        do {
            return try EnvelopeCoding.decoder.decode(Envelope<Value>.self, from: data).payload
        } catch {
            throw EnvelopeError(.payload, topic: name,
                                detail: "payload does not match \(schema) v\(version): \(Self.describe(error))")
        }
    }

    /// A producer message for this topic.
    public func message(key: String, value: Value, headers: [KafkaHeader] = []) throws -> KafkaProducerMessage {
        KafkaProducerMessage(topic: name, key: key, value: try encode(value), headers: headers)
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "missing key '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(let type, let context)?, .valueNotFound(let type, let context)?:
            return "expected \(type) at \(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context)?:
            return "corrupt data at \(path(context)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return parts.isEmpty ? "the top level" : parts.joined(separator: ".")
    }
}

extension KafkaProducer {
    /// Encodes `value` in `topic`'s envelope, sends it and awaits the delivery report.
    public func send<Value>(_ topic: Topic<Value>, key: String, value: Value,
                            headers: [KafkaHeader] = []) async throws -> KafkaDeliveryReport {
        try await send(topic.message(key: key, value: value, headers: headers))
    }
}

/// Why a value could not be read from (or written to) a typed topic.
public struct EnvelopeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable { case notAnEnvelope, schemaMismatch, versionMismatch, payload }
    public var kind: Kind
    public var topic: String
    public var detail: String

    public init(_ kind: Kind, topic: String, detail: String) {
        self.kind = kind
        self.topic = topic
        self.detail = detail
    }

    public var description: String { "topic '\(topic)': \(detail)" }
}

struct Envelope<Payload: Codable>: Codable {
    var schema: String
    var version: Int
    var payload: Payload
}

private struct EnvelopeHeader: Decodable {
    var schema: String
    var version: Int
}

enum EnvelopeCoding {
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
