import ArgumentParser
import Foundation
import Logging

/// Flags every service shares. Each falls back to an environment variable, then a default,
/// so the same binary runs under `skinr1 up`, in a container, or by hand.
public struct RuntimeOptions: ParsableArguments, Sendable {
    @Option(help: "PostgreSQL connection URL (env DATABASE_URL).")
    public var databaseURL: String?

    @Option(help: "Kafka bootstrap servers, host:port[,host:port] (env KAFKA_BOOTSTRAP_SERVERS).")
    public var bootstrapServers: String?

    @Option(help: "Log format: human or json (env SKINR1_LOG_FORMAT).")
    public var logFormat: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env SKINR1_LOG_LEVEL).")
    public var logLevel: String?

    @Option(help: "Identity of this process among replicas (env SKINR1_INSTANCE_ID; default host-pid).")
    public var instanceID: String?

    @Option(help: "Training run this process serves (env SKINR1_RUN_ID).")
    public var runID: String?

    @Option(help: "Seconds between heartbeats written to the store (env SKINR1_HEARTBEAT_SECONDS).")
    public var heartbeatSeconds: Double?

    @Option(help: "Nice value of the process, 0 (normal) to 19 (lowest priority) (env SKINR1_NICENESS; default 0).")
    public var niceness: Int?

    public init() {}

    /// Resolves flags, then environment, then defaults; names the flag or variable that is wrong.
    public func resolve(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> RuntimeConfiguration {
        func pick(_ flag: String?, _ variable: String) -> String? {
            if let flag, !flag.isEmpty { return flag }
            if let value = env[variable], !value.isEmpty { return value }
            return nil
        }
        let formatText = pick(logFormat, "SKINR1_LOG_FORMAT") ?? LogFormat.human.rawValue
        guard let format = LogFormat(rawValue: formatText.lowercased()) else {
            throw ConfigurationError("log format '\(formatText)' is not one of human, json (--log-format / SKINR1_LOG_FORMAT)")
        }
        let levelText = pick(logLevel, "SKINR1_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ConfigurationError("log level '\(levelText)' is unknown (--log-level / SKINR1_LOG_LEVEL)")
        }
        let heartbeatText = heartbeatSeconds.map { String($0) } ?? env["SKINR1_HEARTBEAT_SECONDS"] ?? "2"
        guard let heartbeat = Double(heartbeatText), heartbeat > 0, heartbeat.isFinite else {
            throw ConfigurationError("heartbeat interval '\(heartbeatText)' must be a positive number of seconds (--heartbeat-seconds / SKINR1_HEARTBEAT_SECONDS)")
        }
        let nicenessText = niceness.map { String($0) } ?? env["SKINR1_NICENESS"] ?? "0"
        guard let nice = Int(nicenessText), ProcessPriority.range.contains(nice) else {
            throw ConfigurationError("niceness '\(nicenessText)' must be a whole number from 0 to 19 (--niceness / SKINR1_NICENESS)")
        }
        let host = ProcessInfo.processInfo.hostName
        let pid = ProcessInfo.processInfo.processIdentifier
        return RuntimeConfiguration(
            databaseURL: pick(databaseURL, "DATABASE_URL"),
            bootstrapServers: pick(bootstrapServers, "KAFKA_BOOTSTRAP_SERVERS"),
            logFormat: format,
            logLevel: level,
            instanceID: pick(instanceID, "SKINR1_INSTANCE_ID") ?? "\(host)-\(pid)",
            runID: pick(runID, "SKINR1_RUN_ID"),
            heartbeatInterval: .milliseconds(Int64(heartbeat * 1000)),
            niceness: nice,
            host: host,
            pid: Int(pid)
        )
    }
}

/// The resolved runtime settings of one process.
public struct RuntimeConfiguration: Sendable {
    public var databaseURL: String?
    public var bootstrapServers: String?
    public var logFormat: LogFormat
    public var logLevel: Logger.Level
    public var instanceID: String
    public var runID: String?
    public var heartbeatInterval: Duration
    /// Nice value the process gives itself at start (0: normal priority).
    public var niceness: Int = 0
    public var host: String
    public var pid: Int

    /// The database URL, or an error telling how to provide it.
    public func requireDatabaseURL() throws -> String {
        guard let databaseURL else {
            throw ConfigurationError("no database: pass --database-url or set DATABASE_URL")
        }
        return databaseURL
    }

    /// The bootstrap servers, or an error telling how to provide them.
    public func requireBootstrapServers() throws -> String {
        guard let bootstrapServers else {
            throw ConfigurationError("no Kafka bootstrap servers: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
        }
        return bootstrapServers
    }
}

/// A configuration problem, described so that the user knows which setting to fix.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
