import DataSynth
import Domain
import Foundation
import Logging
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import Store
import TestSupport
import Testing

/// What the rollout and scoring tests stand on: a private PostgreSQL cluster (migrated),
/// an embedded broker with the pipeline's topics, and a run row.
final class RolloutBench: Sendable {
    static let logger: Logger = {
        var logger = Logger(label: "skinr1.tests.rollout")
        logger.logLevel = .warning
        return logger
    }()

    let infrastructure: TestInfrastructure
    let record: RunRecord
    var client: PostgresClient { infrastructure.client }
    var broker: EmbeddedBroker { infrastructure.broker }
    var kafka: KafkaConfiguration { infrastructure.kafka }
    var databaseURL: String { infrastructure.databaseURL }
    var directory: URL { infrastructure.directory }

    private init(infrastructure: TestInfrastructure, record: RunRecord) {
        self.infrastructure = infrastructure
        self.record = record
    }

    static func start(config: RunConfig, partitions: Int = 4) async throws -> RolloutBench {
        let infrastructure = try await TestInfrastructure.start(label: "rollout", partitions: partitions, logger: logger)
        do {
            let record = try await RunRecord.create(id: "run-\(UUID().uuidString.prefix(6).lowercased())", config: config,
                                                    on: infrastructure.client)
            return RolloutBench(infrastructure: infrastructure, record: record)
        } catch {
            await infrastructure.stop()
            throw error
        }
    }

    func stop() async {
        await infrastructure.stop()
    }

    /// Runs `body` and stops the bench afterwards, whatever happens.
    static func with<T>(config: RunConfig, partitions: Int = 4, _ body: (RolloutBench) async throws -> T) async throws -> T {
        let bench = try await start(config: config, partitions: partitions)
        do {
            let value = try await body(bench)
            await bench.stop()
            return value
        } catch {
            await bench.stop()
            throw error
        }
    }

    // MARK: Data

    /// A small JPEG stored as a blob; returns its sha256.
    func storeImage(shade: UInt8) async throws -> String {
        var image = RGBImage(width: 16, height: 16, fill: (shade, 90, 255 - shade))
        for y in 0..<8 { for x in 0..<8 { image.pixels[(y * 16 + x) * 3] = 255 - shade } }
        let bytes = try JPEG.encode(image, quality: 90)
        return try await BlobStore(client: client).put(bytes, mediaType: "image/jpeg")
    }

    func publish(prompts: [RLPromptMessage]) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: Self.logger)
        _ = try await producer.sendAll(prompts.map { try PipelineTopics.prompts.message(key: $0.promptID, value: $0) })
        try await producer.shutdown()
    }

    func publishRaw(topic: String, key: String, value: [UInt8]) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: Self.logger)
        _ = try await producer.send(KafkaProducerMessage(topic: topic, key: key, value: value))
        try await producer.shutdown()
    }

    /// Reads `topic` from the start in a fresh group until `count` messages arrived (or the timeout).
    func read(_ topic: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
        try await readTopic(topic, kafka: kafka, count: count, timeout: timeout, logger: Self.logger)
    }

    func count(_ sql: SQLQuery) async throws -> Int {
        try await client.query(sql).first!.decode("n")
    }

    /// Polls until `condition` holds; false at the timeout.
    func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }
}

/// A multiple-choice item shaped like the synthesizer's (four options on a path, letter and
/// condition answer): A is the finest option on the path (0.75), B its parent (0.375),
/// C and D off the path.
func fourOptionTestItem(id: String, imageSHA: String, caseID: String, dataset: String, question: String,
                        prompt: String) -> QuestionItem {
    let options = [
        QuestionOption(letter: "A", text: "superficial spreading melanoma", node: "ssm", condition: .malignant,
                       pathIndex: 2, granularityReward: 0.75),
        QuestionOption(letter: "B", text: "melanoma", node: "melanoma", condition: .malignant,
                       pathIndex: 1, granularityReward: 0.375),
        QuestionOption(letter: "C", text: "seborrhoeic keratosis", node: "sk", condition: .benign,
                       pathIndex: nil, granularityReward: 0),
        QuestionOption(letter: "D", text: "dermatofibroma", node: "df", condition: .benign,
                       pathIndex: nil, granularityReward: 0),
    ]
    return QuestionItem(id: id, kind: .disease, purpose: .reinforcement, caseID: caseID, dataset: dataset,
                        imageSHA: imageSHA, question: question, options: options, prompt: prompt,
                        correctLetter: "A", groundTruth: "ssm", groundTruthCondition: .malignant,
                        path: ["melanoma", "ssm"], answerFormat: .letterAndCondition, normalisation: .finestOption,
                        seed: 7)
}

/// The rollout tests' item: the four options listed in the prompt.
func rolloutTestItem(id: String, imageSHA: String) -> QuestionItem {
    fourOptionTestItem(
        id: id, imageSHA: imageSHA, caseID: "case-\(id)", dataset: "synthetic", question: "What is the diagnosis?",
        prompt: "What is the diagnosis? A: superficial spreading melanoma B: melanoma C: seborrhoeic keratosis "
            + "D: dermatofibroma. Answer with <thinking> and <final diagnosis>.")
}

/// The micro policy the tests sample with: a tokenizer trained on the prompts' words, a base
/// and two adapters (perturbed, so that they change the policy), all stored as blobs.
struct RolloutTestPolicy: Sendable {
    let tokenizer: BPETokenizer
    let base: PolicyModel
    let baseSHA: String
    let adapters: [LoRAAdapter]
    let adapterSHAs: [String]

    static func make(on client: PostgresClient, shape: (Int) -> ModelConfig = { .micro(vocabSize: $0) }) async throws -> RolloutTestPolicy {
        let corpus = [rolloutTestItem(id: "x", imageSHA: "").prompt,
                      "<thinking> asymmetric, several colours </thinking> <final diagnosis> A, malignant </final diagnosis>",
                      "<thinking> regular, one colour </thinking> <final diagnosis> C, benign </final diagnosis>"]
        let tokenizer = try BPETokenizer.train(corpus: corpus, vocabSize: 300)
        let base = try PolicyModel(config: shape(tokenizer.vocabSize), seed: 11)
        let artifacts = PolicyArtifacts(blobs: BlobStore(client: client))
        let baseSHA = try await artifacts.storeBase(base, tokenizer: tokenizer)
        var adapters: [LoRAAdapter] = []
        var shas: [String] = []
        for seed in [21, 22] as [UInt64] {
            let adapter = try LoRAAdapter(modelConfig: base.config, config: LoRAConfig(rank: 2, alpha: 4, dropout: 0), seed: seed)
            var rng = seed
            for i in 0..<adapter.parameterCount {
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                adapter.params[i] += Float(Int64(bitPattern: rng >> 11) % 2001 - 1000) / 2000
            }
            adapters.append(adapter)
            shas.append(try await artifacts.storeAdapter(adapter))
        }
        return RolloutTestPolicy(tokenizer: tokenizer, base: base, baseSHA: baseSHA, adapters: adapters, adapterSHAs: shas)
    }

    /// What the learner writes when it publishes a version.
    func publishVersion(_ version: Int, step: Int, adapter: Int, run: RunRecord, capacity: Int,
                        on client: PostgresClient) async throws {
        try await client.execute("""
            INSERT INTO policy_versions (run_id, version, step, stage, base_sha256, adapter_sha256, learner_incarnation,
                                         admission_capacity)
            VALUES (\(run.id), \(version), \(step), 'rl', \(baseSHA), \(adapterSHAs[adapter]), 'incarnation-1', \(capacity))
            """)
    }
}

/// A smoke-profile RL run sized for the micro policy.
func rolloutTestConfig(groupSize: Int = 4, maxNewTokens: Int = 8, eta: Int = 8, groupsPerStep: Int = 2) throws -> RunConfig {
    var config = try RunConfig.profile("smoke", arm: .rlOnly)
    config.modelSize = "micro"
    config.groupSize = groupSize
    config.maxNewTokens = maxNewTokens
    config.stalenessBound = eta
    config.groupsPerStep = groupsPerStep
    config.temperature = 1.0
    return config
}

func rolloutPrompts(_ count: Int, run: RunRecord, images: [String], tag: String = "p") -> [RLPromptMessage] {
    (0..<count).map { i in
        let id = "\(run.id)-\(tag)\(i)"
        return RLPromptMessage(promptID: id, runID: run.id, epoch: 0,
                               item: rolloutTestItem(id: id, imageSHA: images[i % images.count]))
    }
}
