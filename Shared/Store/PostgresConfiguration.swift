import CLibPQ
import Foundation

/// Where and how to connect: a `DATABASE_URL` (`postgresql://user:pass@host:port/db?...`)
/// or a libpq key=value string (`host=... port=... dbname=...`), plus session settings.
///
/// The connection string is parsed once here by libpq itself, so every form libpq accepts
/// works, and a malformed one fails early with an error that masks the password.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// The connection string as given; holds the password, so it is never printed.
    let connectionString: String
    /// The parsed settings that libpq will use (password excluded).
    public let host: String?
    public let port: String?
    public let database: String?
    public let user: String?
    let hasConnectTimeout: Bool
    let userOptions: String?
    /// Secrets to mask in any message about this configuration.
    let secrets: [String]
    /// Shown as `application_name` in `pg_stat_activity`.
    public var applicationName: String
    /// Seconds libpq waits for a server before failing (`connect_timeout`) when the string does not say.
    public var connectTimeoutSeconds: Int

    public init(_ connectionString: String, applicationName: String = "skinr1", connectTimeoutSeconds: Int = 10) throws {
        let secrets = Self.findSecrets(in: connectionString)
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorPointer) else {
            var reason = "not a postgresql:// URL nor a key=value connection string"
            if let errorPointer {
                reason = String(cString: errorPointer).trimmingCharacters(in: .whitespacesAndNewlines)
                PQfreemem(errorPointer)
            }
            throw PostgresError(.invalidConnectionString,
                                message: "cannot parse the database URL: \(Self.mask(reason, secrets))")
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        self.connectionString = connectionString
        self.host = values["host"] ?? values["hostaddr"]
        self.port = values["port"]
        self.database = values["dbname"]
        self.user = values["user"]
        self.hasConnectTimeout = values["connect_timeout"] != nil
        self.userOptions = values["options"]
        self.secrets = secrets + [values["password"]].compactMap { $0 }.filter { !$0.isEmpty }
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// Reads `DATABASE_URL` from the environment.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresConfiguration {
        guard let url = environment["DATABASE_URL"], !url.isEmpty else {
            throw PostgresError(.invalidConnectionString, message: "DATABASE_URL is not set (expected postgresql://user@host:port/dbname)")
        }
        return try PostgresConfiguration(url)
    }

    /// `host=... port=... dbname=... user=...`, without the password.
    public var description: String {
        var parts: [String] = []
        parts.append("host=\(host ?? "(default)")")
        parts.append("port=\(port ?? "(default)")")
        parts.append("dbname=\(database ?? "(default)")")
        parts.append("user=\(user ?? "(default)")")
        return parts.joined(separator: " ")
    }

    /// Replaces every secret of this configuration in `text` with `****`.
    func redact(_ text: String) -> String { Self.mask(text, secrets) }

    /// Session settings sent at connection start: results in UTC, ISO dates, hex bytea and
    /// shortest exact floats, which is what the decoders expect; NOTICE chatter (e.g. from
    /// `IF NOT EXISTS`) is not sent. Appended after any
    /// `options` the caller gave, so these win.
    var sessionOptions: String {
        let ours = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c bytea_output=hex -c extra_float_digits=1 -c IntervalStyle=postgres -c client_min_messages=warning"
        if let userOptions, !userOptions.isEmpty { return userOptions + " " + ours }
        return ours
    }

    /// Keyword/value pairs for `PQconnectdbParams`: the full connection string first
    /// (expanded by libpq), then the settings that must hold for this library.
    var connectParameters: [(String, String)] {
        var parameters: [(String, String)] = [
            ("dbname", connectionString),
            ("fallback_application_name", applicationName),
            ("client_encoding", "UTF8"),
            ("options", sessionOptions),
        ]
        if !hasConnectTimeout { parameters.append(("connect_timeout", String(connectTimeoutSeconds))) }
        return parameters
    }

    // MARK: masking

    /// Passwords in `scheme://user:password@`, `password=...` and `?password=...` forms,
    /// found without trusting the string to be well-formed.
    static func findSecrets(in text: String) -> [String] {
        var secrets: [String] = []
        if let schemeEnd = text.range(of: "://") {
            let afterScheme = text[schemeEnd.upperBound...]
            let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
            let authority = afterScheme[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                if let colon = userInfo.firstIndex(of: ":") {
                    let password = String(userInfo[userInfo.index(after: colon)...])
                    if !password.isEmpty {
                        secrets.append(password)
                        if let decoded = password.removingPercentEncoding, decoded != password { secrets.append(decoded) }
                    }
                }
            }
        }
        // key=value forms, in the query string or a conninfo string: password=... up to a separator.
        var search = text[...]
        while let range = search.range(of: "password=") {
            var value = search[range.upperBound...]
            if value.first == "'" {
                value = value.dropFirst()
                let end = value.firstIndex(of: "'") ?? value.endIndex
                secrets.append(String(value[..<end]))
            } else {
                let end = value.firstIndex(where: { $0 == " " || $0 == "&" || $0 == "\t" }) ?? value.endIndex
                let password = String(value[..<end])
                secrets.append(password)
                if let decoded = password.removingPercentEncoding, decoded != password { secrets.append(decoded) }
            }
            search = text[range.upperBound...]
        }
        // Longest first, so a secret that contains another is masked whole.
        return secrets.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
    }

    static func mask(_ text: String, _ secrets: [String]) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "****") }
    }
}
