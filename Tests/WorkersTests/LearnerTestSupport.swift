import DataSynth
import Domain
import Foundation
import Knowledge
import Logging
import Messaging
import Pipeline
import Store
import TestSupport
import Testing
@testable import Workers

/// What the learner tests stand on: a private PostgreSQL cluster (migrated), an embedded
/// broker with the pipeline's topics (one partition each, so the order of groups is the
/// order of publication), a tiny catalogue and a run.
final class LearnerBench: Sendable {
    static let logger: Logger = {
        var logger = Logger(label: "skinr1.tests.learner")
        logger.logLevel = .warning
        return logger
    }()

    let infrastructure: TestInfrastructure
    let record: RunRecord
    let imageSHAs: [String]
    var client: PostgresClient { infrastructure.client }
    var broker: EmbeddedBroker { infrastructure.broker }
    var kafka: KafkaConfiguration { infrastructure.kafka }

    private init(infrastructure: TestInfrastructure, record: RunRecord, imageSHAs: [String]) {
        self.infrastructure = infrastructure
        self.record = record
        self.imageSHAs = imageSHAs
    }

    static func with<T>(config: RunConfig, _ body: (LearnerBench) async throws -> T) async throws -> T {
        // One partition per topic, so the order of groups is the order of publication.
        let infrastructure = try await TestInfrastructure.start(label: "learner", partitions: 1, logger: logger)
        let bench: LearnerBench
        do {
            let record = try await RunRecord.create(id: "run-\(UUID().uuidString.prefix(6).lowercased())", config: config,
                                                    on: infrastructure.client)
            let shas = try await writeCatalogue(on: infrastructure.client)
            bench = LearnerBench(infrastructure: infrastructure, record: record, imageSHAs: shas)
        } catch {
            await infrastructure.stop()
            throw error
        }
        do {
            let value = try await body(bench)
            await bench.stop()
            return value
        } catch {
            await bench.stop()
            throw error
        }
    }

    func stop() async {
        await infrastructure.stop()
    }

    /// One training dataset with six cases, each drawn as one diagnosis of the shipped
    /// rules (the case metadata names it, as the synthetic corpus writer does).
    static func writeCatalogue(on client: PostgresClient) async throws -> [String] {
        let knowledge = try KnowledgeBase.load()
        let nodes = Array(knowledge.rules.keys.sorted().prefix(6))
        try await client.execute("""
            INSERT INTO datasets (id, name, role, source, image_style, label_granularity)
            VALUES ('learner-test', 'Learner test', 'train', 'synthetic', 'dermoscopy', 'fine')
            """)
        var shas: [String] = []
        for (i, node) in nodes.enumerated() {
            let shade = UInt8(30 + 35 * i)
            var image = RGBImage(width: 16, height: 16, fill: (shade, 90, 255 - shade))
            for y in 4..<12 { for x in 4..<12 { image.pixels[(y * 16 + x) * 3 + 1] = 255 - shade } }
            let sha = try await BlobStore(client: client).put(try JPEG.encode(image, quality: 90), mediaType: "image/jpeg")
            shas.append(sha)
            try await client.execute("""
                INSERT INTO cases (id, dataset_id, image_sha256, label_code, condition, split, metadata)
                VALUES (\("case-\(i)"), 'learner-test', \(sha), \(node), 'benign', 'train', \(json: ["drawn_diagnosis": node]))
                """)
        }
        return shas
    }

    /// Stores and publishes `count` trajectories, and marks the synthesizer's milestones.
    func writeTrajectories(_ count: Int, publish: Bool) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: Self.logger)
        for i in 0..<count {
            let id = "\(record.id)-traj-\(i)"
            let target = i % 2 == 0
                ? "<thinking> dark colour </thinking> <diagnosis> melanoma, malignant </diagnosis>"
                : "<thinking> pale colour </thinking> <diagnosis> nevus, benign </diagnosis>"
            let prompt = "Diagnose."
            let sha = imageSHAs[i % imageSHAs.count]
            try await client.execute("""
                INSERT INTO trajectories (id, run_id, type, case_id, image_sha256, prompt, target, final_node)
                VALUES (\(id), \(record.id), 1, \("case-\(i % imageSHAs.count)"), \(sha), \(prompt), \(target), 'melanoma')
                """)
            if publish {
                let message = SFTTrajectoryMessage(trajectoryID: id, corpus: "test", type: 1, imageSHA: sha, prompt: prompt,
                                                   target: target, finalDiagnosis: "melanoma")
                _ = try await producer.send(PipelineTopics.trajectories, key: id, value: message)
            }
        }
        try await producer.shutdown()
        try await record.mark(.evalSuitesBuilt, on: client)
        try await record.mark(.trajectoriesPublished, detail: ["count": publish ? count : 0], on: client)
        try await record.mark(.promptsPublished, detail: ["count": 0], on: client)
    }

    /// A scored group as the reward scorer publishes it (two answers with rewards 2 and 0
    /// unless `zeroVariance`), plus the generator's `rollout_groups` row.
    func scoredGroup(_ id: String, policyVersion: Int, runID: String? = nil, zeroVariance: Bool = false) async throws -> ScoredGroupMessage {
        let run = runID ?? record.id
        let item = learnerTestItem(id: "item-\(id)", imageSHA: imageSHAs[0])
        // Byte tokens only, valid under any tokenizer of the project (specials, then bytes).
        let prompt: [Int32] = [1] + Array("Diagnose it".utf8).map { Int32($0) + 10 }
        let answers = (0..<2).map { j in
            let tokens = Array("<A> \(j)".utf8).map { Int32($0) + 10 } + [2]
            return RolloutAnswer(tokens: tokens, text: "A", behaviourLogProbs: tokens.map { _ in -5.5 }, finished: true)
        }
        let good = RewardBreakdown(format: 1, granularity: 0.75, malignancy: 0.25, chosenLetter: "A", statedCondition: .malignant, correct: true)
        let bad = RewardBreakdown(format: 0, granularity: 0, malignancy: 0, chosenLetter: nil, statedCondition: nil, correct: false)
        let rollout = RolloutGroupMessage(
            groupID: id, prompt: RLPromptMessage(promptID: "p-\(id)", runID: run, epoch: 0, item: item), promptTokens: prompt,
            answers: answers, policyVersion: policyVersion, learnerIncarnation: "test", adapterSHA: nil, workerID: "w-1",
            ticket: 1, sampledAt: Date(), sampleMilliseconds: 1)
        if run == record.id {
            try await client.execute("""
                INSERT INTO rollout_groups (group_id, run_id, prompt_id, policy_version, learner_incarnation, worker_id, ticket,
                                            answers, tokens, sample_ms, sampled_at)
                VALUES (\(id), \(run), \("p-\(id)"), \(policyVersion), 'test', 'w-1', 1, 2, 10, 1, now())
                """)
        }
        return ScoredGroupMessage(rollout: rollout, rewards: zeroVariance ? [good, good] : [good, bad],
                                  advantages: zeroVariance ? [0, 0] : [1, -1], scorerID: "s-1")
    }

    func publish(_ groups: [ScoredGroupMessage], garbageFirst: Bool = false) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: Self.logger)
        if garbageFirst {
            _ = try await producer.send(KafkaProducerMessage(topic: TopicName.rlScored, key: "garbage", value: Array("not json".utf8)))
        }
        for group in groups {
            _ = try await producer.send(PipelineTopics.scored, key: group.rollout.groupID, value: group)
        }
        try await producer.shutdown()
    }

    /// Reads `topic` from the start in a fresh group until `count` messages arrived (or the timeout).
    func read(_ topic: String, count: Int, timeout: Duration = .seconds(20)) async throws -> [KafkaConsumerMessage] {
        try await readTopic(topic, kafka: kafka, count: count, timeout: timeout, logger: Self.logger)
    }

    func learner(_ options: LearnerOptions = LearnerOptions(pollWait: .milliseconds(100))) -> LearnerWorker {
        LearnerWorker(run: record, client: client, kafka: kafka, options: options, logger: Self.logger)
    }
}

/// The smoke profile shrunk to seconds in a debug build: micro model, a few pretraining steps.
func learnerTestConfig(arm: RunArm) throws -> RunConfig {
    var config = try RunConfig.profile("smoke", arm: arm)
    config.modelSize = "micro"
    config.vocabSize = 300
    config.pretrainSteps = 40
    config.pretrainLearningRate = 1e-2
    config.batchSize = 4
    config.sftEpochs = 8
    config.sftLearningRate = 1e-2
    config.rlSteps = 1
    config.rlLearningRate = 5e-3
    config.groupsPerStep = 2
    config.groupSize = 2
    config.maxNewTokens = 12
    config.loraDropout = 0
    config.checkpointEvery = 2
    return config
}

/// A four-option disease item (A the finest option on the path).
func learnerTestItem(id: String, imageSHA: String) -> QuestionItem {
    fourOptionTestItem(id: id, imageSHA: imageSHA, caseID: "case-0", dataset: "learner-test",
                       question: "Which diagnosis?", prompt: "Which diagnosis?")
}
