/// The Kafka bus over librdkafka.
public enum MessagingModule {
    public static let name = "Messaging"
}
