import Messaging

/// Consumer-group settings shared by the pipeline's consumers (rollout workers, scorers,
/// the learner).
///
/// A short session (10 s, heartbeats every second from librdkafka's own thread) lets the
/// group notice a dead member and hand its partitions to the others within seconds rather
/// than Kafka's default 45. It also bounds what a member joining costs on the embedded
/// broker: librdkafka's mock cluster waits one session timeout less a second for every
/// member to rejoin when a new one arrives in a running group (measured: two workers
/// joining at the start of RL stalled the quick profile twice for about 43 s each with the
/// 45 s default). Apache Kafka ends the rebalance as soon as every member has rejoined.
public enum GroupMembership {
    public static let sessionTimeout: Duration = .seconds(10)

    static func consumer(groupID: String, sessionTimeout: Duration = sessionTimeout,
                         bufferCapacity: Int = 2_000) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(groupID: groupID, sessionTimeout: sessionTimeout,
                                   heartbeatInterval: min(.seconds(1), sessionTimeout / 3), bufferCapacity: bufferCapacity)
    }
}
