import Domain
import Foundation
import Messaging
import Testing
@testable import Pipeline

@Suite("Pipeline messages")
struct MessageTests {
    func item() -> QuestionItem {
        QuestionItem(
            id: "q1", kind: .disease, purpose: .reinforcement, caseID: "c1", dataset: "synth-ham", imageSHA: String(repeating: "a", count: 64),
            question: "Which diagnosis?", options: [], prompt: "Which diagnosis? A. x B. y", correctLetter: "A",
            groundTruth: "melanoma", groundTruthCondition: .malignant, path: ["melanocytic", "melanoma"],
            answerFormat: .letterAndCondition, normalisation: .finestOption, seed: 7)
    }

    @Test func scoredGroupRoundTripsThroughItsEnvelope() throws {
        let prompt = RLPromptMessage(promptID: "p1", runID: "r1", epoch: 0, item: item())
        let rollout = RolloutGroupMessage(
            groupID: "g1", prompt: prompt, promptTokens: [1, 2, 3],
            answers: [RolloutAnswer(tokens: [4, 5], text: "<thinking>x</thinking>", behaviourLogProbs: [-0.5, -1.25], finished: true)],
            policyVersion: 3, learnerIncarnation: "inc-1", adapterSHA: nil, workerID: "w1", ticket: 12,
            sampledAt: Date(timeIntervalSince1970: 1_800_000_000), sampleMilliseconds: 12.5)
        let scored = ScoredGroupMessage(rollout: rollout, rewards: [], advantages: [0], scorerID: "s1")
        let bytes = try PipelineTopics.scored.encode(scored)
        #expect(try PipelineTopics.scored.decode(bytes) == scored)
        // A rollout is not a scored group: the envelope's schema says so.
        #expect(throws: (any Error).self) { try PipelineTopics.rollouts.decode(bytes) }
    }

    /// The reference log-probabilities a worker adds travel with the group; a group
    /// written without them (a run whose workers do not compute them) still reads, as nil.
    @Test func referenceLogProbsTravelAndAreOptional() throws {
        let prompt = RLPromptMessage(promptID: "p1", runID: "r1", epoch: 0, item: item())
        let with = RolloutGroupMessage(
            groupID: "g1", prompt: prompt, promptTokens: [1, 2, 3],
            answers: [RolloutAnswer(tokens: [4, 5], text: "x", behaviourLogProbs: [-0.5, -1.25], finished: true,
                                    referenceLogProbs: [-0.75, -2])],
            policyVersion: 3, learnerIncarnation: "inc-1", adapterSHA: "ad", referenceSHA: "base", workerID: "w1",
            ticket: 12, sampledAt: Date(timeIntervalSince1970: 1_800_000_000), sampleMilliseconds: 12.5)
        let decoded = try PipelineTopics.rollouts.decode(try PipelineTopics.rollouts.encode(with))
        #expect(decoded == with && decoded.referenceSHA == "base" && decoded.answers[0].referenceLogProbs == [-0.75, -2])
        var without = with
        without.referenceSHA = nil
        without.answers[0].referenceLogProbs = nil
        let bytes = try PipelineTopics.rollouts.encode(without)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("reference"), "absent fields are not written")
        #expect(try PipelineTopics.rollouts.decode(bytes) == without)
    }

    @Test func topicNamesAreTheProductTopics() {
        #expect(PipelineTopics.prompts.name == TopicName.rlPrompts)
        #expect(PipelineTopics.scored.name == TopicName.rlScored)
        #expect(PipelineTopics.policyVersions.name == TopicName.policyVersions)
    }
}
