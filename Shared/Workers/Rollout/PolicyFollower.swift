import Backoff
import Foundation
import Logging
import NeuralNet
import PolicyRuntime
import Store
import Synchronization

/// One row of `policy_versions`: a policy the learner published.
public struct PublishedPolicy: Sendable, Equatable {
    public var version: Int
    public var step: Int
    public var stage: String
    public var baseSHA: String
    public var adapterSHA: String?
    public var learnerIncarnation: String
    public var admissionCapacity: Int

    /// The newest version of `runID`, or nil before the learner published any.
    public static func latest(runID: String, on client: PostgresClient) async throws -> PublishedPolicy? {
        guard let row = try await client.query("""
            SELECT version, step, stage, base_sha256, adapter_sha256, learner_incarnation, admission_capacity
            FROM policy_versions WHERE run_id = \(runID) ORDER BY version DESC LIMIT 1
            """).first else { return nil }
        return PublishedPolicy(version: try row.decode("version"), step: try row.decode("step"),
                               stage: try row.decode("stage"), baseSHA: try row.decode("base_sha256"),
                               adapterSHA: try row.decode("adapter_sha256", as: String?.self),
                               learnerIncarnation: try row.decode("learner_incarnation"),
                               admissionCapacity: try row.decode("admission_capacity"))
    }
}

/// A published policy with its weights read from the store, ready to swap in: the adapter
/// always (nil when the version has none), the base only when it differs from the base the
/// sampler already holds.
public struct PreparedPolicy: Sendable {
    public var published: PublishedPolicy
    public var adapter: LoRAAdapter?
    public var base: (model: PolicyModel, tokenizer: BPETokenizer)?
}

/// Follows the run's newest policy version by polling `policy_versions` and reads its
/// weights from the blob store in the background, so that sampling only swaps a ready
/// adapter in between batches (the load never sits on the sampling path).
///
/// Polling the table rather than consuming `skinr1.policy.versions`: one indexed row read
/// per interval, no consumer group per instance to create and clean up, and the table is
/// written before the topic, so what it lists is always loadable.
public final class PolicyFollower: Sendable {
    private struct State {
        var prepared: PreparedPolicy?
        var baseSHA: String?
        var failure: String?
    }

    private let runID: String
    private let client: PostgresClient
    private let artifacts: PolicyArtifacts
    private let poll: Duration
    private let logger: Logger
    private let state = Mutex(State())

    public init(runID: String, client: PostgresClient, poll: Duration, logger: Logger) {
        self.runID = runID
        self.client = client
        self.artifacts = PolicyArtifacts(blobs: BlobStore(client: client))
        self.poll = poll
        self.logger = logger
    }

    /// The newest policy read so far (nil before the first one is loaded).
    public var newest: PreparedPolicy? { state.withLock { $0.prepared } }

    /// Polls and loads until cancelled. A version whose weights cannot be read is logged and
    /// tried again at the next poll; the sampler keeps the policy it has meanwhile.
    public func run() async throws {
        while !Task.isCancelled {
            do {
                try await refresh()
            } catch is CancellationError {
                return
            } catch {
                let text = "\(error)"
                let repeated = state.withLock { s -> Bool in
                    defer { s.failure = text }
                    return s.failure == text
                }
                if !repeated { logger.warning("policy version not loaded; retrying", metadata: ["error": "\(text)"]) }
            }
            try await Task.sleep(for: poll)
        }
    }

    /// Loads the newest version if it is newer than the one prepared, or the same version
    /// published again with other weights (a restarted learner repeats its last version).
    public func refresh() async throws {
        guard let latest = try await PublishedPolicy.latest(runID: runID, on: client) else { return }
        let (current, heldBase) = state.withLock { ($0.prepared?.published, $0.baseSHA) }
        if let current, current.version > latest.version || current == latest { return }
        let started = ContinuousClock.now
        var adapter: LoRAAdapter? = nil
        if let sha = latest.adapterSHA { adapter = try await artifacts.loadAdapter(sha) }
        var base: (model: PolicyModel, tokenizer: BPETokenizer)? = nil
        if heldBase != latest.baseSHA {
            base = try await artifacts.loadBase(latest.baseSHA)
        }
        if let adapter, let model = base?.model, adapter.modelConfig != model.config {
            throw NeuralNetError("version \(latest.version): adapter \(latest.adapterSHA ?? "-") does not fit base \(latest.baseSHA)")
        }
        state.withLock {
            // A base loaded for an older version that was never taken stays with this one.
            let carried = base ?? (($0.baseSHA == latest.baseSHA) ? $0.prepared?.base : nil)
            $0.prepared = PreparedPolicy(published: latest, adapter: adapter, base: carried)
            $0.baseSHA = latest.baseSHA
            $0.failure = nil
        }
        logger.info("policy version loaded", metadata: [
            "policy.version": "\(latest.version)", "policy.step": "\(latest.step)", "policy.stage": "\(latest.stage)",
            "policy.adapter": "\(latest.adapterSHA.map { String($0.prefix(12)) } ?? "none")",
            "policy.base": "\(latest.baseSHA.prefix(12))", "policy.base_loaded": "\(base != nil)",
            "load.ms": "\((ContinuousClock.now - started).seconds * 1000)",
        ])
    }

    /// Returns once a version of a step after `step` is ready to swap in, or after `limit`
    /// (whichever comes first), looking at the prepared policy every few milliseconds: a
    /// worker refused admission starts its next batch as soon as the learner's new version
    /// is loaded, not at its next poll.
    public func waitForStep(after step: Int, limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while (newest?.published.step ?? Int.min) <= step, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Marks the base of the prepared policy as taken by the sampler, so that the follower
    /// does not keep a second reference to it.
    public func baseTaken(version: Int) {
        state.withLock { s in
            if s.prepared?.published.version == version { s.prepared?.base = nil }
        }
    }
}
