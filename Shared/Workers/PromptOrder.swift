import Messaging

/// Kafka settings that keep RL prompts close to their epoch order across partitions.
///
/// The synthesizer publishes the prompts epoch by epoch, keyed by prompt id, so every
/// partition holds its share of epoch 0, then of epoch 1, and so on. A consumer reads a
/// partition in order, but how far it gets in one partition before the next depends on
/// what a fetch returns: with librdkafka's defaults (record batches of up to 10,000
/// messages, 1 MiB per partition and fetch) a worker read one partition deep into its
/// second epoch while others had not started their first (quick profile: 310 of 808
/// groups were second-epoch prompts, so 702 distinct cases were trained on instead of 808).
/// The consumer pauses each partition once it holds its share of the buffer, so a worker
/// takes a few prompts from every partition in turn: on the embedded broker (8 partitions,
/// 4 epochs of 1,853 prompts) none of the first 808 prompts read was from a later epoch,
/// with these settings or librdkafka's, with a buffer of 64 or of 16. (Before the shares,
/// a full buffer paused every partition, librdkafka dropped what it had fetched beyond it,
/// and the next fetch started with the same partitions: a buffer of 16 read 485 later-epoch
/// prompts among the first 808 with librdkafka's defaults, 251 with these settings.) Small
/// batches and small per-partition fetches still keep a fetch close to what a share holds,
/// so little that is fetched is dropped.
public enum PromptOrder {
    /// Prompts per record batch the synthesizer writes.
    public static let batchMessages = 8
    /// Bytes a worker asks of each partition per fetch: about one batch of prompts (each
    /// prompt is about 2 KB of JSON).
    public static let partitionFetchBytes = 16 * 1024
    /// A rollout worker's prompt buffer: eight partitions (the default) of one fetch each.
    public static let workerPrefetch = 64

    /// The synthesizer's producer settings.
    public static var producer: KafkaProducerConfiguration {
        KafkaProducerConfiguration(batchMessages: batchMessages)
    }

    /// A rollout worker's consumer settings, with a buffer of `prefetch` prompts.
    public static func consumer(groupID: String, prefetch: Int) -> KafkaConsumerConfiguration {
        var configuration = GroupMembership.consumer(groupID: groupID, bufferCapacity: prefetch)
        configuration.maxPartitionFetchBytes = partitionFetchBytes
        return configuration
    }
}
