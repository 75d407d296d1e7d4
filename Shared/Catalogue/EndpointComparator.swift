import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A comparator that asks an OpenAI-compatible chat-completions endpoint to write the
/// comparison text rho of METHOD 3.3. Off by default; `TemplateComparator` is the
/// reproducible default.
public struct EndpointComparator: Domain.Comparator {
    public var baseURL: URL
    public var model: String
    public var apiKey: String?
    public var timeout: TimeInterval

    public init(baseURL: URL, model: String, apiKey: String? = nil, timeout: TimeInterval = 60) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
    }

    /// `{base}/chat/completions`.
    public var endpoint: URL { baseURL.appendingPathComponent("chat").appendingPathComponent("completions") }

    public func compare(_ request: ComparisonRequest) async throws -> String {
        var http = URLRequest(url: endpoint, timeoutInterval: timeout)
        http.httpMethod = "POST"
        http.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { http.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        http.httpBody = try JSONEncoder().encode(ChatRequest(model: model, messages: Self.messages(for: request), temperature: 0))

        let (data, response) = try await send(http)
        guard let status = (response as? HTTPURLResponse)?.statusCode else {
            throw EndpointComparatorError(url: endpoint, status: nil, reason: "the answer is not an HTTP response")
        }
        guard (200..<300).contains(status) else {
            let excerpt = String(decoding: data.prefix(300), as: UTF8.self)
            throw EndpointComparatorError(url: endpoint, status: status, reason: "HTTP \(status): \(excerpt)")
        }
        let decoded: ChatResponse
        do {
            decoded = try JSONDecoder().decode(ChatResponse.self, from: data)
        } catch {
            throw EndpointComparatorError(url: endpoint, status: status, reason: "the body is not a chat-completions answer: \(error)")
        }
        guard let content = decoded.choices.first?.message.content?.trimmingCharacters(in: .whitespacesAndNewlines),
              !content.isEmpty else {
            throw EndpointComparatorError(url: endpoint, status: status, reason: "the answer has no message content in choices[0]")
        }
        return content
    }

    /// The system and user messages: the two rules, the DDx note and which diagnosis the
    /// text must argue for.
    public static func messages(for request: ComparisonRequest) -> [ChatMessage] {
        let favoured = request.favoured == request.primary ? request.primaryName : request.differentialName
        let other = request.favoured == request.primary ? request.differentialName : request.primaryName
        let system = """
            You write short dermatology reasoning for a teaching corpus. Compare two confusable \
            diagnoses using only the rules given, name the visual features that separate them, \
            and end by stating which diagnosis the findings support. Three or four sentences, no lists.
            """
        var user = """
            Diagnosis A: \(request.primaryName). Rule: \(request.primaryRule.text)
            Diagnosis B: \(request.differentialName). Rule: \(request.differentialRule.text)
            """
        if let note = request.edgeNote, !note.isEmpty { user += "\nWhat usually separates them: \(note)" }
        user += "\nThe image shows \(favoured). Explain why it is \(favoured) and not \(other)."
        return [ChatMessage(role: "system", content: system), ChatMessage(role: "user", content: user)]
    }

    private func send(_ request: URLRequest) async throws -> (Data, URLResponse) {
        let url = endpoint
        let timeout = timeout
        return try await withCheckedThrowingContinuation { continuation in
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = timeout
            configuration.timeoutIntervalForResource = timeout
            let session = URLSession(configuration: configuration)
            let task = session.dataTask(with: request) { data, response, error in
                session.finishTasksAndInvalidate()
                if let error {
                    let reason = (error as? URLError)?.code == .timedOut
                        ? "no answer within \(timeout) s" : error.localizedDescription
                    continuation.resume(throwing: EndpointComparatorError(url: url, status: nil, reason: reason))
                } else if let data, let response {
                    continuation.resume(returning: (data, response))
                } else {
                    continuation.resume(throwing: EndpointComparatorError(url: url, status: nil, reason: "empty answer"))
                }
            }
            task.resume()
        }
    }
}

public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
}

struct ChatRequest: Encodable {
    var model: String
    var messages: [ChatMessage]
    var temperature: Double
}

struct ChatResponse: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable { var content: String? }
        var message: Message
    }
    var choices: [Choice]
}

/// A failed call to the comparison endpoint, naming the URL and the HTTP status.
public struct EndpointComparatorError: Error, Sendable, CustomStringConvertible {
    public var url: URL
    public var status: Int?
    public var reason: String

    public var description: String {
        "comparison endpoint \(url.absoluteString)\(status.map { " (HTTP \($0))" } ?? ""): \(reason)"
    }
}
