import Backoff
import DataSynth
import Domain
import Foundation
import Logging
import Messaging
import NeuralNet
import Pipeline
import PolicyRuntime
import ServiceLifecycle
import ServiceRuntime
import Store
import Training

/// Process-local settings of a rollout worker; the training knobs (K, temperature, answer
/// length, eta, groups per step) come from the run's `RunConfig`.
public struct RolloutWorkerSettings: Sendable {
    /// Names the worker in groups, rows and logs.
    public var workerID: String
    /// Prompts sampled together in one batch (K answers each).
    public var promptsPerBatch: Int
    /// How often the newest policy version is looked up (one indexed row read). Every
    /// step's version widens the admission window, so this is part of the pipeline's
    /// latency: at 250 ms the quick profile's learner waited for groups 15% of its time.
    public var versionPoll: Duration
    /// Longest wait for prompts before looking at versions again.
    public var fetchWait: Duration
    /// Prompts the consumer may hold ahead of the worker (`PromptOrder.workerPrefetch`: more
    /// than one fetch from every partition, so that partitions are read in turn). Only this
    /// worker's partitions are buffered, so a waiting worker holds nothing another could take.
    public var prefetch: Int
    /// A ticket leased to a worker that has not heartbeaten as running for this long is
    /// taken back (the worker died before publishing its group).
    public var leaseStaleAfter: Duration

    public init(workerID: String, promptsPerBatch: Int = 4, versionPoll: Duration = .milliseconds(50),
                fetchWait: Duration = .milliseconds(250), prefetch: Int = PromptOrder.workerPrefetch, leaseStaleAfter: Duration = .seconds(30)) {
        self.workerID = workerID
        self.promptsPerBatch = max(1, promptsPerBatch)
        self.versionPoll = versionPoll
        self.fetchWait = fetchWait
        self.prefetch = max(1, prefetch)
        self.leaseStaleAfter = leaseStaleAfter
    }
}

/// A rollout worker (METHOD.md 6.2-6.3, pipeline stage 3): reads RL prompts from the run's
/// consumer group, takes an admission ticket per group, samples K answers per prompt with
/// the newest policy version, publishes each group to `skinr1.rl.rollouts`, records it in
/// `rollout_groups`, and only then commits the prompt's offset.
///
/// Group ids are `<prompt id>/t<ticket>`: tickets are unique within a run, so the id is
/// unique and deterministic for what was sampled, and a prompt that must be sampled again
/// (a worker died after publishing but before recording) yields a second, distinct group
/// rather than two different groups under one key. A prompt whose group is already
/// recorded is committed without sampling.
public final class RolloutWorker: Sendable {
    public let record: RunRecord
    private let client: PostgresClient
    private let kafka: KafkaConfiguration
    private let settings: RolloutWorkerSettings
    private let counters: ServiceCounters
    private let logger: Logger
    private let executor: ModelExecutor

    public init(record: RunRecord, client: PostgresClient, kafka: KafkaConfiguration, settings: RolloutWorkerSettings,
                counters: ServiceCounters = ServiceCounters(), logger: Logger) {
        self.record = record
        self.client = client
        self.kafka = kafka
        self.settings = settings
        self.counters = counters
        var logger = logger
        logger[metadataKey: "worker"] = "\(settings.workerID)"
        self.logger = logger
        self.executor = ModelExecutor(label: "rollout.\(settings.workerID)")
    }

    /// The consumer group every worker of the run joins.
    public static func consumerGroup(runID: String) -> String { "skinr1.\(runID).rollout" }

    /// Runs until cancelled or until graceful shutdown; a batch that started sampling is
    /// finished (published, recorded, committed) before returning.
    public func run() async throws {
        let config = record.config
        guard config.arm.runsRL else {
            logger.info("this arm runs no RL; nothing to sample", metadata: ["arm": "\(config.arm.rawValue)"])
            try? await gracefulShutdown()
            return
        }
        // The consumer joins the group now, while base and SFT train: workers started together
        // then share the prompts from RL's first step. Joining at the start of RL, they
        // rebalanced for 17-36 s in some runs while the learner waited.
        let consumer = try KafkaConsumer(
            configuration: kafka,
            // A worker refused admission stops reading, and its consumer pauses fetching once the
            // buffer is full (it still answers rebalances, so a joining worker gets partitions at once).
            consumer: PromptOrder.consumer(groupID: Self.consumerGroup(runID: record.id), prefetch: settings.prefetch),
            topics: [PipelineTopics.prompts.name], logger: logger)
        logger.info("waiting for the learner to start RL")
        let started: [String: Int]
        do {
            started = try await cancelWhenGracefulShutdown {
                try await self.record.waitFor(.rlStarted, on: self.client)
            }
        } catch {
            await consumer.close()
            throw error
        }
        let firstVersion = started["version"] ?? 0
        let follower = PolicyFollower(runID: record.id, client: client, poll: settings.versionPoll, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await follower.run() }
            try await self.sample(follower: follower, firstVersion: firstVersion, consumer: consumer)
            group.cancelAll()
        }
    }

    // MARK: The loop

    /// One prompt message as read, in partition order.
    private enum Entry: Sendable {
        /// Nothing to sample (another run's prompt, already recorded, or dead-lettered): commit in turn.
        case skip(KafkaConsumerMessage)
        case sample(KafkaConsumerMessage, RLPromptMessage)

        var message: KafkaConsumerMessage {
            switch self {
            case .skip(let message), .sample(let message, _): message
            }
        }
        var needsSampling: Bool { if case .sample = self { true } else { false } }
    }

    /// The weights the worker samples with.
    private struct Policy: Sendable {
        var published: PublishedPolicy
        var model: PolicyModel
        /// The base without adapter (the GRPO reference), when the run has workers compute
        /// the reference log-probabilities.
        var reference: PolicyModel?
        var tokenizer: BPETokenizer
        /// Case images at the model's side, decoded once per base.
        var images: ImageCache
    }

    private var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    /// Closes `consumer` before returning.
    private func sample(follower: PolicyFollower, firstVersion: Int, consumer: KafkaConsumer) async throws {
        let config = record.config
        // A batch's groups are sent together and awaited before the next batch: a linger would
        // only delay them.
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: kafka, producer: KafkaProducerConfiguration(linger: .zero), logger: logger)
        } catch {
            await consumer.close()
            throw error
        }
        let deadLetters = DeadLetterPublisher(producer: producer, logger: logger)
        let tickets = AdmissionTickets(
            runID: record.id,
            window: AdmissionWindow(bound: StalenessBound(eta: config.stalenessBound), groupsPerStep: config.groupsPerStep),
            holder: settings.workerID, client: client)
        let batchSize = min(settings.promptsPerBatch, tickets.window.pipelinedBatch)
        if batchSize < settings.promptsPerBatch {
            logger.info("batches cut to half the admission window, so that sampling overlaps training", metadata: [
                "prompts_per_batch": "\(batchSize)", "asked": "\(settings.promptsPerBatch)"])
        }
        var policy: Policy? = nil
        var queue: [Entry] = []
        var refusedAt: (step: Int, since: ContinuousClock.Instant)? = nil
        var lastReclaim = ContinuousClock.now
        var failure: (any Error)? = nil

        do {
            while !stopping {
                // Swap in the newest version between batches (its weights are already loaded).
                if let next = follower.newest, next.published.version >= firstVersion,
                   next.published != policy?.published {
                    policy = try await swap(to: next, from: policy, follower: follower)
                }
                guard let current = policy else {
                    try await pause(settings.versionPoll)
                    continue
                }
                // Refused admission: fetch nothing until a newer step widens the window.
                if let refused = refusedAt {
                    if current.published.step <= refused.step {
                        // Tickets of a worker that died mid-batch would keep the window shut.
                        if ContinuousClock.now - lastReclaim >= settings.leaseStaleAfter / 2 {
                            lastReclaim = ContinuousClock.now
                            let reclaimed = try await tickets.reclaimAbandoned(staleAfter: settings.leaseStaleAfter)
                            if reclaimed > 0 {
                                counters.add("tickets_reclaimed", Int64(reclaimed))
                                logger.warning("took back admission tickets of a worker that stopped before publishing", metadata: [
                                    "tickets": "\(reclaimed)", "stale_after.s": "\(settings.leaseStaleAfter.components.seconds)"])
                                refusedAt = nil
                                continue
                            }
                        }
                        let limit = settings.versionPoll
                        try await cancelWhenGracefulShutdown {
                            try await follower.waitForStep(after: refused.step, limit: limit)
                        }
                        continue
                    }
                    counters.add("admission_wait_ms", Int64((ContinuousClock.now - refused.since).seconds * 1000))
                    refusedAt = nil
                }

                let missing = batchSize - queue.count(where: \.needsSampling)
                if missing > 0 {
                    let wait = queue.isEmpty ? settings.fetchWait : .milliseconds(1)
                    let fetched = try await cancelWhenGracefulShutdown {
                        try await consumer.nextBatch(maxCount: missing, maxWait: wait)
                    }
                    guard let fetched else { break }
                    queue += try await classify(fetched, images: current.images, deadLetters: deadLetters)
                }
                // Prompts of partitions given to another member in a rebalance are theirs now.
                let owned = Set(consumer.assignment)
                counters.set("partitions", Int64(owned.count))
                queue.removeAll { !owned.contains($0.message.topicPartition) }
                guard !queue.isEmpty else { continue }

                let waiting = queue.indices.filter { queue[$0].needsSampling }.prefix(batchSize)
                guard let lastWaiting = waiting.last else {
                    try await consumer.commitProcessed(queue.map(\.message))
                    queue.removeAll()
                    continue
                }
                guard let granted = try await tickets.take(waiting.count, learnerStep: current.published.step) else {
                    counters.add("admission_waits")
                    logger.info("admission window full; waiting for the learner", metadata: [
                        "policy.step": "\(current.published.step)",
                        "capacity": "\(tickets.capacity(learnerStep: current.published.step))",
                    ])
                    refusedAt = (current.published.step, ContinuousClock.now)
                    continue
                }
                let through = granted.count == waiting.count ? lastWaiting : waiting[waiting.startIndex + granted.count - 1]
                let batch = Array(queue[...through])
                queue.removeFirst(through + 1)
                // Run the batch as its own task: once tickets are taken, cancellation (or a
                // shutdown) waits for it to be published, recorded and committed.
                let job = Task {
                    try await self.complete(batch, tickets: granted, policy: current, consumer: consumer,
                                            producer: producer, admission: tickets)
                }
                try await job.value
            }
        } catch is CancellationError {
            // Shutdown while waiting: nothing half-done to commit.
        } catch {
            failure = error
        }
        await consumer.close()
        do { try await producer.shutdown(timeout: .seconds(10)) } catch {
            logger.warning("producer shut down with undelivered messages", metadata: ["error": "\(error)"])
        }
        if let failure { throw failure }
    }

    private func pause(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    /// Takes the prepared version: attaches its adapter (and a new base when it brings one)
    /// on the model thread, which is free between batches.
    private func swap(to next: PreparedPolicy, from old: Policy?, follower: PolicyFollower) async throws -> Policy {
        let model: PolicyModel
        let tokenizer: BPETokenizer
        let images: ImageCache
        let reference: PolicyModel?
        if let base = next.base {
            model = base.model
            tokenizer = base.tokenizer
            images = ImageCache(blobs: BlobStore(client: client), side: base.model.config.imageSize)
            reference = record.config.referenceOnWorkers ? try await executor.run {
                let copy = try model.clone()
                copy.detachAdapter()
                return copy
            } : nil
            follower.baseTaken(version: next.published.version)
        } else if let old {
            model = old.model
            tokenizer = old.tokenizer
            images = old.images
            reference = old.reference
        } else {
            throw RolloutWorkerError("version \(next.published.version) came without a base and no base is loaded")
        }
        let adapter = next.adapter
        try await executor.run {
            model.detachAdapter()
            if let adapter { try model.attach(adapter) }
        }
        counters.add("adapter_swaps")
        logger.info("sampling with a new policy version", metadata: [
            "policy.version": "\(next.published.version)", "policy.step": "\(next.published.step)",
            "policy.adapter": "\(next.published.adapterSHA.map { String($0.prefix(12)) } ?? "none")",
            "learner.incarnation": "\(next.published.learnerIncarnation)",
        ])
        return Policy(published: next.published, model: model, reference: reference, tokenizer: tokenizer, images: images)
    }

    /// Decodes fetched prompts; dead-letters what cannot be read, marks other runs' prompts
    /// and prompts already sampled (a group row exists) as done.
    private func classify(_ messages: [KafkaConsumerMessage], images: ImageCache,
                          deadLetters: DeadLetterPublisher) async throws -> [Entry] {
        var entries: [Entry] = []
        for message in messages {
            do {
                let prompt = try PipelineTopics.prompts.decode(message.value)
                if prompt.runID != record.id {
                    entries.append(.skip(message))
                } else {
                    // Reads (and caches) the image now: a prompt whose image is missing or
                    // damaged can never be sampled, so it goes to the dead-letter topic.
                    _ = try await images.tensor(prompt.item.imageSHA)
                    entries.append(.sample(message, prompt))
                }
            } catch let error where Self.isPermanent(error) {
                try await deadLetters.publish(message, error: error)
                counters.add("dead_letters")
                entries.append(.skip(message))
            }
        }
        let ids = entries.compactMap { entry -> String? in
            if case .sample(_, let prompt) = entry { prompt.promptID } else { nil }
        }
        guard !ids.isEmpty else { return entries }
        let rows = try await client.query("""
            SELECT DISTINCT prompt_id FROM rollout_groups WHERE run_id = \(record.id) AND prompt_id = ANY(\(ids))
            """)
        let done = Set(try rows.map { try $0.decode("prompt_id", as: String.self) })
        guard !done.isEmpty else { return entries }
        counters.add("prompts_already_sampled", Int64(done.count))
        return entries.map { entry in
            if case .sample(let message, let prompt) = entry, done.contains(prompt.promptID) { .skip(message) } else { entry }
        }
    }

    /// Errors that retrying will not fix: the message itself is bad.
    private static func isPermanent(_ error: any Error) -> Bool {
        if error is EnvelopeError || error is JPEGError || error is ImageError { return true }
        if let error = error as? PostgresError, error.code == .decoding { return true }
        return false
    }

    // MARK: One batch

    /// Samples the admitted prompts of `batch` (the sampling entries, in order, one ticket
    /// each), publishes and records their groups, then commits every entry of the batch.
    private func complete(_ batch: [Entry], tickets: ClosedRange<Int>, policy: Policy, consumer: KafkaConsumer,
                          producer: KafkaProducer, admission: AdmissionTickets) async throws {
        let prompts = batch.compactMap { entry -> RLPromptMessage? in
            if case .sample(_, let prompt) = entry { prompt } else { nil }
        }
        precondition(prompts.count == tickets.count, "one ticket per admitted prompt")
        let groups: [RolloutGroupMessage]
        do {
            groups = try await sampleGroups(prompts, tickets: Array(tickets), policy: policy)
        } catch {
            // Nothing will be published under these tickets: give them back.
            _ = try? await admission.giveBack(tickets)
            throw error
        }
        _ = try await producer.sendAll(groups.map { try PipelineTopics.rollouts.message(key: $0.groupID, value: $0) })
        try await recordGroups(groups)
        try await admission.settle(tickets)
        try await consumer.commitProcessed(batch.map(\.message))

        let tokens = groups.reduce(0) { $0 + $1.answers.reduce(0) { $0 + $1.tokens.count } }
        counters.add("groups", Int64(groups.count))
        counters.add("answers", Int64(groups.reduce(0) { $0 + $1.answers.count }))
        counters.add("tokens", Int64(tokens))
        for group in groups {
            logger.info("group sampled", metadata: [
                "group": "\(group.groupID)", "ticket": "\(group.ticket)",
                "policy.version": "\(group.policyVersion)",
                "policy.adapter": "\(group.adapterSHA ?? "none")",
                "tokens": "\(group.answers.reduce(0) { $0 + $1.tokens.count })",
                "sample.ms": "\(Int(group.sampleMilliseconds))",
            ])
        }
    }

    /// K answers per prompt, all prompts in one batch of rows on the model thread.
    private func sampleGroups(_ prompts: [RLPromptMessage], tickets: [Int], policy: Policy) async throws -> [RolloutGroupMessage] {
        let config = record.config
        let k = config.groupSize
        let codec = PromptCodec(tokenizer: policy.tokenizer, config: policy.model.config)
        let promptTokens = prompts.map { codec.promptTokens($0.item.prompt, reserve: config.maxNewTokens) }
        var images: [Float] = []
        var rows: [[Int32]] = []
        for (prompt, tokens) in zip(prompts, promptTokens) {
            let image = try await policy.images.tensor(prompt.item.imageSHA)
            for _ in 0..<k {
                images += image
                rows.append(tokens)
            }
        }
        let groupIDs = zip(prompts, tickets).map { Self.groupID(promptID: $0.promptID, ticket: $1) }
        let options = SamplingOptions(maxNewTokens: config.maxNewTokens, temperature: Float(config.temperature),
                                      seed: Self.samplingSeed(runSeed: config.seed, groupIDs: groupIDs),
                                      stopToken: policy.tokenizer.eos, minP: Float(config.minP))
        let model = policy.model, reference = policy.reference, tokenizer = policy.tokenizer
        let batchImages = images, batchRows = rows
        let sampledAt = Date()
        let started = ContinuousClock.now
        let (samples, referenceLogProbs) = try await executor.run {
            let samples = try model.generate(images: batchImages, prompts: batchRows, options: options, tokenizer: tokenizer)
            let referenceLogProbs = try reference.map {
                // log pi_ref of the answers for the learner's KL term (METHOD.md 6.2), cut to the
                // text capacity as the learner cuts them, so what is sent is what it would compute.
                try $0.answerLogProbs(images: batchImages, prompts: batchRows, answers: samples.map(\.tokens))
            }
            return (samples, referenceLogProbs)
        }
        let elapsed = (ContinuousClock.now - started).seconds * 1000
        return prompts.indices.map { p in
            let answers = ((p * k)..<((p + 1) * k)).map { r in
                RolloutAnswer(tokens: samples[r].tokens, text: samples[r].text, behaviourLogProbs: samples[r].logProbs,
                              finished: samples[r].stopped, referenceLogProbs: referenceLogProbs?[r])
            }
            return RolloutGroupMessage(
                groupID: groupIDs[p], prompt: prompts[p], promptTokens: promptTokens[p], answers: answers,
                policyVersion: policy.published.version, learnerIncarnation: policy.published.learnerIncarnation,
                adapterSHA: policy.published.adapterSHA,
                referenceSHA: referenceLogProbs == nil ? nil : policy.published.baseSHA,
                workerID: settings.workerID, ticket: tickets[p], sampledAt: sampledAt, sampleMilliseconds: elapsed)
        }
    }

    /// One row per group (a redelivered group changes nothing).
    private func recordGroups(_ groups: [RolloutGroupMessage]) async throws {
        guard !groups.isEmpty else { return }
        try await client.execute(RolloutGroupRows.insert(groups, runID: record.id))
    }

    /// `<prompt id>/t<ticket>` (see the type's comment for why the ticket is in it).
    public static func groupID(promptID: String, ticket: Int) -> String { "\(promptID)/t\(ticket)" }

    /// The batch's sampling seed, from the run's seed and the batch's group ids (FNV-1a): a
    /// group sampled alone is reproducible from its id; in a batch, from the batch's ids.
    public static func samplingSeed(runSeed: UInt64, groupIDs: [String]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ runSeed
        for id in groupIDs {
            for byte in id.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            hash ^= 0xff
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
