import Catalogue
import Domain
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot HTTP server on a loopback port: accepts one connection on its own thread,
/// records the request and answers with a canned status and body.
final class OneShotHTTPServer: Sendable {
    let port: UInt16
    private let request = Mutex<String?>(nil)
    private let listener: Int32

    init(status: Int, body: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        let reason = status == 200 ? "OK" : "Internal Server Error"
        let response = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        Thread.detachNewThread { [self] in self.serveOnce(response) }
    }

    var receivedRequest: String? { request.withLock { $0 } }

    private func serveOnce(_ response: String) {
        let client = accept(listener, nil, nil)
        close(listener)
        guard client >= 0 else { return }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            if let headerEnd = text.range(of: "\r\n\r\n") {
                let headers = text[..<headerEnd.lowerBound].lowercased()
                let declared = headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text[headerEnd.upperBound...].utf8.count >= declared { break }
            }
        }
        request.withLock { $0 = String(decoding: received, as: UTF8.self) }
        let bytes = Array(response.utf8)
        _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
        close(client)
    }
}

@Suite("OpenAI-compatible comparator", .timeLimit(.minutes(1)))
struct EndpointComparatorTests {
    static let request: ComparisonRequest = {
        let appearance = LesionAppearance(
            palette: [.lightBrown], asymmetry: ParameterRange(0, 0.2), borderIrregularity: ParameterRange(0, 0.2),
            pigmentNetwork: .regular, dotsGlobules: .absent, streaks: .absent, blueWhiteVeil: false, vessels: .none,
            scaleCrust: .none, sizeMillimetres: ParameterRange(2, 5), surface: .flat, multiplicity: .solitary)
        return ComparisonRequest(
            primary: "melanocytic_nevus", primaryName: "Melanocytic nevus",
            primaryRule: DiagnosticRule(node: "melanocytic_nevus", text: "A symmetric brown lesion indicates a nevus.", hallmarks: appearance),
            differential: "melanoma", differentialName: "Melanoma",
            differentialRule: DiagnosticRule(node: "melanoma", text: "Asymmetry and many colours indicate melanoma.", hallmarks: appearance),
            favoured: "melanocytic_nevus", edgeNote: "symmetry and colour count")
    }()

    @Test func answersWithTheMessageContent() async throws {
        let body = #"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"  Symmetric, one colour: a nevus.  "}}]}"#
        let server = try OneShotHTTPServer(status: 200, body: body)
        let comparator = EndpointComparator(baseURL: URL(string: "http://127.0.0.1:\(server.port)/v1")!, model: "test-model", timeout: 10)
        let text = try await comparator.compare(Self.request)
        #expect(text == "Symmetric, one colour: a nevus.")
        let received = try #require(server.receivedRequest)
        #expect(received.hasPrefix("POST /v1/chat/completions "))
        #expect(received.contains("\"model\":\"test-model\""))
        #expect(received.contains("\"temperature\":0"))
        #expect(received.contains("symmetry and colour count"))
        #expect(received.contains("\"role\":\"system\""))
    }

    @Test func anHTTPErrorNamesTheURLAndStatus() async throws {
        let server = try OneShotHTTPServer(status: 500, body: #"{"error":"overloaded"}"#)
        let comparator = EndpointComparator(baseURL: URL(string: "http://127.0.0.1:\(server.port)/v1")!, model: "m", timeout: 10)
        do {
            _ = try await comparator.compare(Self.request)
            Issue.record("an HTTP 500 answer was accepted")
        } catch let error as EndpointComparatorError {
            #expect(error.status == 500)
            #expect(error.description.contains("http://127.0.0.1:\(server.port)/v1/chat/completions"))
            #expect(error.description.contains("500"))
        }
    }
}
