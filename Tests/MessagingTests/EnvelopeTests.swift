import Foundation
import Testing
@testable import Messaging

struct EnvelopeTestPrompt: Codable, Sendable, Equatable {
    var id: String
    var options: [String]
    var reward: [Double]
}

@Suite("Typed topics")
struct EnvelopeTests {
    let v1 = Topic<EnvelopeTestPrompt>(TopicName.rlPrompts, schema: "skinr1.rl.prompt", version: 1)

    @Test func roundTripKeepsValueAndWritesTheEnvelope() throws {
        let prompt = EnvelopeTestPrompt(id: "p-7", options: ["melanoma", "nevus"], reward: [1, 0.25])
        let bytes = try v1.encode(prompt)
        #expect(try v1.decode(bytes) == prompt)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["schema"] as? String == "skinr1.rl.prompt")
        #expect(object["version"] as? Int == 1)
        #expect((object["payload"] as? [String: Any])?["id"] as? String == "p-7")
    }

    @Test func versionMismatchIsAClearError() throws {
        let v2 = Topic<EnvelopeTestPrompt>(TopicName.rlPrompts, schema: "skinr1.rl.prompt", version: 2)
        let bytes = try v2.encode(EnvelopeTestPrompt(id: "p", options: [], reward: []))
        #expect {
            try v1.decode(bytes)
        } throws: { error in
            guard let error = error as? EnvelopeError else { return false }
            return error.kind == .versionMismatch && error.description.contains("expected version 1, found version 2")
                && error.topic == TopicName.rlPrompts
        }
    }

    @Test func otherSchemaAndGarbageAreRejected() throws {
        let other = Topic<EnvelopeTestPrompt>(TopicName.rlPrompts, schema: "skinr1.rl.rollout", version: 1)
        let foreign = try other.encode(EnvelopeTestPrompt(id: "p", options: [], reward: []))
        #expect(throws: EnvelopeError(.schemaMismatch, topic: TopicName.rlPrompts,
                                      detail: "expected schema 'skinr1.rl.prompt', found 'skinr1.rl.rollout' (version 1)")) {
            try v1.decode(foreign)
        }
        #expect { try v1.decode(Array("not json".utf8)) } throws: { ($0 as? EnvelopeError)?.kind == .notAnEnvelope }
        let missingField = Array(#"{"schema":"skinr1.rl.prompt","version":1,"payload":{"id":"x","options":[]}}"#.utf8)
        #expect {
            try v1.decode(missingField)
        } throws: { error in
            (error as? EnvelopeError)?.kind == .payload && "\(error)".contains("reward")
        }
    }

    @Test func productTopicNames() {
        #expect(TopicName.all == ["skinr1.sft.trajectories", "skinr1.rl.prompts", "skinr1.rl.rollouts",
                                  "skinr1.rl.scored", "skinr1.policy.versions", "skinr1.deadletter"])
        #expect(DeadLetter.topic.name == "skinr1.deadletter")
    }
}
