import Foundation

/// The files under an import root: the listing and the bytes of each. Parsing works on
/// this, so that it can be tested on in-memory trees.
public protocol IngestFileTree: Sendable {
    /// Every regular file, as a path relative to the root with "/" separators, sorted.
    var paths: [String] { get }
    func contents(of path: String) throws -> [UInt8]
}

extension IngestFileTree {
    /// A metadata file decoded as UTF-8 text.
    func text(of path: String) throws(IngestError) -> String {
        let bytes: [UInt8]
        do { bytes = try contents(of: path) } catch {
            throw IngestError(.layout, file: path, row: nil, "cannot be read: \(error)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            // Some releases are Latin-1; every byte is then one character.
            return String(bytes.map { Character(Unicode.Scalar($0)) })
        }
        return text
    }
}

/// A directory on disk.
public struct DirectoryFileTree: IngestFileTree {
    public let root: URL
    public let paths: [String]

    public init(root: URL) throws(IngestError) {
        self.root = root.standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: self.root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw IngestError(.layout, file: root.path, row: nil, "is not a directory")
        }
        guard let enumerator = FileManager.default.enumerator(
            at: self.root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
            throw IngestError(.layout, file: root.path, row: nil, "cannot be listed")
        }
        let prefix = self.root.path.hasSuffix("/") ? self.root.path : self.root.path + "/"
        var found: [String] = []
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(prefix) else { continue }
            found.append(String(path.dropFirst(prefix.count)))
        }
        paths = found.sorted()
    }

    public func contents(of path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(path), options: .mappedIfSafe))
    }
}

/// An in-memory tree (tests, and small trees built by other code).
public struct MemoryFileTree: IngestFileTree {
    public var files: [String: [UInt8]]
    public var paths: [String] { files.keys.sorted() }

    public init(files: [String: [UInt8]]) { self.files = files }

    public func contents(of path: String) throws -> [UInt8] {
        guard let bytes = files[path] else { throw IngestError(.missingImage, file: path, row: nil, "no such file") }
        return bytes
    }
}

/// Path helpers over "/"-separated relative paths.
enum RelativePath {
    static func fileName(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
    }

    static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    static func stem(_ path: String) -> String {
        let name = fileName(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    static func fileExtension(_ path: String) -> String {
        let name = fileName(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return name[name.index(after: dot)...].lowercased()
    }

    static func join(_ directory: String, _ path: String) -> String {
        if directory.isEmpty { return path }
        return directory + "/" + path
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init)
    }

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]
}
