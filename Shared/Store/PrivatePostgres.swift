import Backoff
import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster in a directory of its own, made with the system's
/// `initdb` and `pg_ctl`: loopback TCP on a free port, its unix socket inside the
/// directory, local connections only (the superuser `postgres` is trusted, other roles log in
/// with a password over TCP), and a database `skinr1`.
///
/// If the directory already holds a cluster it is started again (or found running)
/// instead of re-created, so `skinr1 up` can be re-run over the same directory.
/// PostgreSQL refuses to run as root; when this process is root the server runs as the
/// `postgres` system user, which must be able to reach the directory.
public final class PrivatePostgres: Sendable {
    public let directory: URL
    public let dataDirectory: URL
    public let logFile: URL
    public let port: Int
    public let database: String
    /// `postgresql://postgres@127.0.0.1:<port>/<database>`.
    public let databaseURL: String
    let binDirectory: URL
    let runAs: ServerUser?

    struct ServerUser: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
    }

    private init(directory: URL, port: Int, database: String, binDirectory: URL, runAs: ServerUser?) {
        self.directory = directory
        self.dataDirectory = directory.appendingPathComponent("data")
        self.logFile = directory.appendingPathComponent("postgres.log")
        self.port = port
        self.database = database
        self.databaseURL = Self.url(port: port, database: database)
        self.binDirectory = binDirectory
        self.runAs = runAs
    }

    static func url(port: Int, database: String) -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Creates (or reuses) and starts a cluster in `directory`.
    /// - Parameter durable: `false` turns off fsync, for tests and benchmarks whose data may be lost.
    public static func start(in directory: URL, database: String = "skinr1", durable: Bool = true,
                             logger: Logger) async throws -> PrivatePostgres {
        let binDirectory = try findBinDirectory()
        let fileManager = FileManager.default
        let directory = directory.standardizedFileURL
        do {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw PostgresError(.cluster, message: "cannot create the cluster directory \(directory.path): \(error.localizedDescription)")
        }
        // The server creates its socket "<dir>/.s.PGSQL.<port>", and unix socket paths are limited to 107 bytes.
        if directory.path.utf8.count + 18 > 107 {
            throw PostgresError(.cluster, message: "the cluster directory path \(directory.path) is too long for a unix socket path (keep it under 90 bytes)")
        }
        let runAs = try serverUser()
        if let runAs {
            guard chown(directory.path, runAs.uid, runAs.gid) == 0 else {
                throw PostgresError(.cluster, message: "cannot hand \(directory.path) to the \(runAs.name) user: \(String(cString: strerror(errno)))")
            }
            let probe = try await runCommand("/usr/bin/test", ["-w", directory.path, "-a", "-x", directory.path], as: runAs)
            guard probe.status == 0 else {
                throw PostgresError(.cluster, message: """
                    the \(runAs.name) user (which runs the server, since this process is root) cannot reach \(directory.path): \
                    a parent directory is not searchable by it; choose a directory under /tmp or make the parents searchable (chmod o+x)
                    """)
            }
        }

        let cluster = { (port: Int) in
            PrivatePostgres(directory: directory, port: port, database: database, binDirectory: binDirectory, runAs: runAs)
        }
        let dataDirectory = directory.appendingPathComponent("data")
        let exists = fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path)
        if !exists {
            try await cluster(0).initialize(durable: durable, logger: logger)
        } else if let runningPort = try await cluster(0).runningPort() {
            logger.info("private PostgreSQL already running", metadata: [StoreLogKey.cluster: "\(directory.path)", StoreLogKey.port: "\(runningPort)"])
            let running = cluster(runningPort)
            try await running.createDatabaseIfMissing(database, logger: logger)
            return running
        }

        // A restarted cluster keeps its previous port when that is still free, so URLs handed
        // out before (and sessions that reconnect) stay valid. A free port can be taken by
        // someone else between the probe and the bind: try a few.
        let portFile = directory.appendingPathComponent("port")
        var preferred = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        var lastError: PostgresError?
        for _ in 0..<3 {
            let port: Int
            if let previous = preferred, isFreeLoopbackPort(previous) {
                port = previous
            } else {
                port = try freeLoopbackPort()
            }
            preferred = nil
            let candidate = cluster(port)
            do {
                try await candidate.startServer(logger: logger)
                try? Data("\(port)\n".utf8).write(to: portFile)
                try await candidate.createDatabaseIfMissing(database, logger: logger)
                logger.info("private PostgreSQL started", metadata: [
                    StoreLogKey.cluster: "\(directory.path)", StoreLogKey.port: "\(port)", StoreLogKey.logFile: "\(candidate.logFile.path)",
                ])
                return candidate
            } catch let error as PostgresError where error.message.contains("Address already in use") {
                lastError = error
            }
        }
        throw lastError ?? PostgresError(.cluster, message: "cannot start PostgreSQL in \(directory.path)")
    }

    /// Stops the server (`pg_ctl stop -m fast`); the files stay for a later `start`.
    public func stop() async throws {
        let result = try await Self.runCommand(binDirectory.appendingPathComponent("pg_ctl").path,
                                               ["stop", "-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60"], as: runAs)
        guard result.status == 0 else {
            throw PostgresError(.cluster, message: "pg_ctl stop failed for \(dataDirectory.path) (exit \(result.status)): \(result.output)\(logTail())")
        }
    }

    /// Creates another database in this cluster and returns its URL (e.g. one per test).
    public func createDatabase(named name: String) async throws -> String {
        try await createDatabaseIfMissing(name, logger: Logger(label: "skinr1.store.private-postgres"))
        return Self.url(port: port, database: name)
    }

    /// The URL of a database in this cluster.
    public func databaseURL(for database: String) -> String { Self.url(port: port, database: database) }

    // MARK: steps

    private func initialize(durable: Bool, logger: Logger) async throws {
        logger.info("creating private PostgreSQL cluster", metadata: [StoreLogKey.cluster: "\(directory.path)"])
        var arguments = ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]
        if !durable { arguments.append("--no-sync") }
        let result = try await Self.runCommand(binDirectory.appendingPathComponent("initdb").path, arguments, as: runAs)
        guard result.status == 0 else {
            throw PostgresError(.cluster, message: "initdb failed for \(dataDirectory.path) (exit \(result.status)): \(result.output)")
        }
        // Loopback and the unix socket only. The port and the socket's directory are given at
        // each start, so a cluster whose directory was moved or copied starts where it is now.
        var settings = """

            # Private cluster settings
            listen_addresses = '127.0.0.1'
            max_connections = 100
            shared_buffers = 64MB
            """
        if !durable {
            settings += "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        }
        try append(settings + "\n", to: dataDirectory.appendingPathComponent("postgresql.conf"))
        let hba = """
            # Private cluster: local connections only. The superuser needs no password on
            # this machine; other roles log in with their password over TCP.
            local   all   all                        trust
            host    all   postgres   127.0.0.1/32    trust
            host    all   all        127.0.0.1/32    scram-sha-256

            """
        try write(hba, to: dataDirectory.appendingPathComponent("pg_hba.conf"))
    }

    private func startServer(logger: Logger) async throws {
        let result = try await Self.runCommand(binDirectory.appendingPathComponent("pg_ctl").path, [
            "start", "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60",
            "-o", "-p \(port) -k \(Self.shellQuoted(directory.path))",
        ], as: runAs)
        guard result.status == 0 else {
            let tail = logTail()
            logger.error("private PostgreSQL did not start", metadata: [StoreLogKey.logFile: "\(logFile.path)"])
            throw PostgresError(.cluster, message: "pg_ctl start failed for \(dataDirectory.path) (exit \(result.status)): \(result.output)\(tail)")
        }
    }

    /// `text` as one word for the shell through which pg_ctl starts the server.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The port of a server already running on this data directory, if any.
    private func runningPort() async throws -> Int? {
        let result = try await Self.runCommand(binDirectory.appendingPathComponent("pg_ctl").path,
                                               ["status", "-D", dataDirectory.path], as: runAs)
        guard result.status == 0 else { return nil }
        // postmaster.pid: pid, data directory, start time, port, socket directory, ...
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 3, let port = Int(lines[3].trimmingCharacters(in: .whitespaces)) else { return nil }
        return port
    }

    private func createDatabaseIfMissing(_ name: String, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(
            PostgresConfiguration(Self.url(port: port, database: "postgres")), logger: logger,
            connectPolicy: RetryPolicyDefaults.serverStarting)
        do {
            let existing = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
            if existing.isEmpty {
                do {
                    try await connection.execute("CREATE DATABASE \(identifier: name)")
                } catch let error as PostgresError where error.sqlState == "42P04" {
                    // Created by someone else meanwhile: fine.
                }
            }
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    /// The last lines of the server's log, for error messages.
    func logTail(lines count: Int = 20) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else {
            return "; no server log at \(logFile.path)"
        }
        let lines = text.split(separator: "\n").suffix(count)
        return "; server log \(logFile.path) ends with:\n" + lines.joined(separator: "\n")
    }

    private func append(_ text: String, to file: URL) throws {
        guard let handle = FileHandle(forWritingAtPath: file.path) else {
            throw PostgresError(.cluster, message: "cannot open \(file.path) to configure the cluster")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    private func write(_ text: String, to file: URL) throws {
        do {
            try Data(text.utf8).write(to: file)
        } catch {
            throw PostgresError(.cluster, message: "cannot write \(file.path): \(error.localizedDescription)")
        }
        if let runAs { _ = chown(file.path, runAs.uid, runAs.gid) }
    }

    // MARK: the system

    /// The newest `/usr/lib/postgresql/<version>/bin` with both initdb and pg_ctl.
    static func findBinDirectory() throws -> URL {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        let usable = versions.compactMap { version -> (Double, URL)? in
            guard let number = Double(version) else { return nil }
            let bin = root.appendingPathComponent(version).appendingPathComponent("bin")
            let fileManager = FileManager.default
            guard fileManager.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path),
                  fileManager.isExecutableFile(atPath: bin.appendingPathComponent("pg_ctl").path) else { return nil }
            return (number, bin)
        }
        guard let newest = usable.max(by: { $0.0 < $1.0 }) else {
            throw PostgresError(.cluster, message: "no PostgreSQL server found: expected /usr/lib/postgresql/<version>/bin/initdb and pg_ctl (install the postgresql package)")
        }
        return newest.1
    }

    /// When running as root, the `postgres` system user runs the server.
    static func serverUser() throws -> ServerUser? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") else {
            throw PostgresError(.cluster, message: "running as root, but there is no postgres system user to run the server (install the postgresql package)")
        }
        return ServerUser(name: "postgres", uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Whether `port` on 127.0.0.1 can be bound right now.
    static func isFreeLoopbackPort(_ port: Int) -> Bool {
        guard (1...65535).contains(port) else { return false }
        return (try? boundLoopbackPort(UInt16(port))) != nil
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freeLoopbackPort() throws -> Int {
        try boundLoopbackPort(0)
    }

    /// Binds a socket to 127.0.0.1:`port` (0 = any), closes it, and returns the port bound.
    private static func boundLoopbackPort(_ port: UInt16) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresError(.cluster, message: "cannot open a socket to find a free port") }
        defer { close(fd) }
        // As the server does: connections it closed may linger in TIME_WAIT on its old port.
        var reuse: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw PostgresError(.cluster, message: "cannot bind a socket on 127.0.0.1 port \(port)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PostgresError(.cluster, message: "cannot read the port of a probe socket") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct CommandResult: Sendable {
        let status: Int32
        let output: String
    }

    /// Runs a program (as `user` through runuser when given) and collects its output.
    ///
    /// Spawned with posix_spawn and every descriptor above stderr closed in the child:
    /// `pg_ctl start` leaves a server behind, and a server holding one of our descriptors
    /// (as Foundation's Process leaks to its children) would keep us waiting for it.
    static func runCommand(_ program: String, _ arguments: [String], as user: ServerUser?) async throws -> CommandResult {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0.name, "--", program] + arguments } ?? [program] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        environment["LANG"] = "C"
        let envp = environment.map { "\($0.key)=\($0.value)" }

        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("skinr1-pg-\(UUID().uuidString).out").path
        defer { unlink(outputPath) }

        let pid: pid_t = try withCStrings(argv) { cArguments in
            try withCStrings(envp) { cEnvironment in
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
                closeInheritedDescriptors(&actions)
                var pid: pid_t = 0
                let status = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
                guard status == 0 else {
                    throw PostgresError(.cluster, message: "cannot run \(argv[0]): \(String(cString: strerror(status)))")
                }
                return pid
            }
        }
        // waitpid blocks: wait on a dispatch thread, not on the cooperative pool.
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS, spelled out (they are macros in C).
                let exited = raw & 0x7f == 0
                continuation.resume(returning: exited ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
            }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return CommandResult(status: status, output: RawConnection.clean(text))
    }

    /// Adds "close every descriptor from 3 up" to `actions`: glibc's closefrom action when
    /// present (2.34+, looked up at run time because its header hides it from Swift), else
    /// a close for each descriptor open now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> T) rethrows -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return try pointers.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}

enum RetryPolicyDefaults {
    /// A server that was just started may still refuse connections for a moment.
    static let serverStarting = RetryPolicy(baseDelay: .milliseconds(50), maxDelay: .seconds(1), maxAttempts: 20)
}
