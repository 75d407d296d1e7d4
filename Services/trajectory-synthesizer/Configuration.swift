import ArgumentParser
import Domain
import Foundation
import ServiceRuntime
import Workers

/// Process-local settings of the trajectory synthesizer (METHOD.md 3 and 4). The seed, the
/// prompt epochs and the suite sizes come from the run's configuration in the store.
struct TrajectorySynthesizerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Comparator that writes the DDx comparison text: template or endpoint.")
    var comparator: String = "template"

    @Option(help: "OpenAI-compatible base URL (…/v1) for --comparator endpoint.")
    var comparatorURL: String?

    @Option(help: "Model name sent to the comparator endpoint.")
    var comparatorModel: String = "default"

    func validate() throws {
        guard ["template", "endpoint"].contains(comparator) else {
            throw ValidationError("--comparator must be template or endpoint, not '\(comparator)'")
        }
        if comparator == "endpoint" {
            guard let comparatorURL, URL(string: comparatorURL)?.scheme != nil else {
                throw ValidationError("--comparator endpoint needs --comparator-url with an http(s) URL")
            }
        }
    }

    /// The comparator these settings name; an endpoint's API key comes from $SKINR1_COMPARATOR_API_KEY.
    func makeComparator() -> any Domain.Comparator {
        guard comparator == "endpoint", let text = comparatorURL, let url = URL(string: text) else {
            return TemplateComparator()
        }
        return TrajectorySynthesisService.endpointComparator(
            baseURL: url, model: comparatorModel, apiKey: ProcessInfo.processInfo.environment["SKINR1_COMPARATOR_API_KEY"])
    }
}
