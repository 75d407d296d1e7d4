import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the test harness itself (a child that did not start, a file that never appeared).
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The `skinr1` executable: `$SKINR1_BIN`, else next to the test bundle (SwiftPM builds the
/// package's executables into the same folder for `swift test`).
public func skinr1Binary() throws -> URL {
    try executableBesideTests("skinr1")
}

/// A product executable: `$SKINR1_BIN`'s folder, else next to the test bundle.
public func executableBesideTests(_ name: String) throws -> URL {
    var candidates: [URL] = []
    if let explicit = ProcessInfo.processInfo.environment["SKINR1_BIN"] {
        candidates.append(URL(fileURLWithPath: explicit).deletingLastPathComponent().appendingPathComponent(name))
    }
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    candidates.append(beside.appendingPathComponent(name))
    candidates.append(beside.deletingLastPathComponent().appendingPathComponent(name))
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name))
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) {
        return found
    }
    throw TestSupportError("\(name) executable not found (looked at \(candidates.map(\.path))); build it or set SKINR1_BIN")
}

/// Child processes of a test, all killed when the test ends whatever happened.
public final class ChildProcesses: @unchecked Sendable {
    // Touched only from the test's own task.
    private var processes: [Process] = []

    public init() {}

    public func launch(_ binary: URL, _ arguments: [String], environment: [String: String] = [:], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append(process)
        return process
    }

    public func killAll() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

public func lineCount(_ file: URL) -> Int {
    guard let data = try? Data(contentsOf: file) else { return 0 }
    return data.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
}

public func waitForFile(_ file: URL, timeout: Duration) async throws -> String {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let text = try? String(contentsOf: file, encoding: .utf8), !text.isEmpty { return text }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestSupportError("\(file.path) did not appear within \(timeout)")
}

public func waitForText(_ text: String, in file: URL, timeout: Duration) async throws -> String {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let content = try? String(contentsOf: file, encoding: .utf8), content.contains(text) { return content }
        try await Task.sleep(for: .milliseconds(100))
    }
    let content = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    throw TestSupportError("'\(text)' did not appear in \(file.lastPathComponent) within \(timeout): \(content.suffix(2000))")
}

public func waitForExit(_ process: Process, timeout: Duration) async throws {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        guard ContinuousClock.now < deadline else {
            throw TestSupportError("\(process.arguments?.prefix(2).joined(separator: " ") ?? "child") still running after \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}
