import Testing
@testable import Messaging

@Suite("Configuration")
struct KafkaConfigurationTests {
    @Test func environmentMapsEveryKafkaVariableToALibrdkafkaKey() throws {
        let configuration = try KafkaConfiguration.fromEnvironment([
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
            "KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SSL_CA_LOCATION": "/etc/ca.pem",
            "KAFKA_CLIENT_ID": "rollout-generator-3",
            "PATH": "/usr/bin",
        ])
        #expect(configuration.bootstrapServers == "kafka-1:9092,kafka-2:9092")
        #expect(configuration.clientID == "rollout-generator-3")
        #expect(configuration.extra == [
            "sasl.mechanisms": "SCRAM-SHA-512", "security.protocol": "SASL_SSL", "ssl.ca.location": "/etc/ca.pem",
        ])
        let dictionary = configuration.dictionary
        #expect(dictionary["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092")
        #expect(dictionary["sasl.mechanisms"] == "SCRAM-SHA-512")
        #expect(dictionary["client.id"] == "rollout-generator-3")
    }

    @Test func missingBootstrapServersIsNamed() {
        #expect {
            try KafkaConfiguration.fromEnvironment(["KAFKA_ACKS": "1"])
        } throws: { error in
            "\(error)".contains("KAFKA_BOOTSTRAP_SERVERS")
        }
    }

    @Test func environmentVariableForAnUnknownKeyIsNamed() {
        #expect {
            try KafkaConfiguration.fromEnvironment(["KAFKA_BOOTSTRAP_SERVERS": "b:1", "KAFKA_NO_SUCH_THING": "1"])
        } throws: { error in
            "\(error)".contains("KAFKA_NO_SUCH_THING") && "\(error)".contains("'no.such.thing'")
        }
    }

    @Test func unknownKeyIsNamedByTheError() {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.extra["no.such.setting"] = "1"
        #expect {
            try KafkaProducer(configuration: configuration, logger: testLogger)
        } throws: { error in
            (error as? KafkaError)?.code == .configuration && "\(error)".contains("no.such.setting")
        }
    }

    @Test func badValueIsNamedAndSecretsAreNotPrinted() {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.extra["sasl.password"] = "hunter2"
        configuration.extra["linger.ms"] = "soon"
        #expect {
            try KafkaProducer(configuration: configuration, logger: testLogger)
        } throws: { error in
            "\(error)".contains("linger.ms") && !"\(error)".contains("hunter2")
        }
    }

    @Test func deliveryContractCannotBeOverridden() {
        var configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.extra["enable.auto.commit"] = "true"
        #expect {
            try KafkaConsumer(configuration: configuration, consumer: KafkaConsumerConfiguration(groupID: "g"),
                              topics: ["t"], logger: testLogger)
        } throws: { error in
            "\(error)".contains("enable.auto.commit")
        }
        var producerSide = KafkaConfiguration(bootstrapServers: "127.0.0.1:1")
        producerSide.extra["acks"] = "1"
        #expect {
            try KafkaProducer(configuration: producerSide, logger: testLogger)
        } throws: { error in
            "\(error)".contains("'acks'")
        }
    }

    @Test func typedFieldsBecomeLibrdkafkaKeys() throws {
        let producer = try KafkaProducerConfiguration(linger: .milliseconds(20), batchMessages: 8)
            .dictionary(connection: KafkaConfiguration(bootstrapServers: "b:1", socketTimeout: .seconds(7)))
        #expect(producer["linger.ms"] == "20")
        #expect(producer["batch.num.messages"] == "8")
        #expect(producer["socket.timeout.ms"] == "7000")
        #expect(producer["enable.idempotence"] == "true")
        #expect(producer["acks"] == "all")
        let consumer = try KafkaConsumerConfiguration(groupID: "scorers", maxPartitionFetchBytes: 16_384)
            .dictionary(connection: KafkaConfiguration(bootstrapServers: "b:1"))
        #expect(consumer["group.id"] == "scorers")
        #expect(consumer["max.partition.fetch.bytes"] == "16384")
        #expect(consumer["enable.auto.commit"] == "false")
        #expect(consumer["auto.offset.reset"] == "earliest")
    }
}
