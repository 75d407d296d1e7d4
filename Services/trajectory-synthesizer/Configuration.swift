import ArgumentParser
import ServiceRuntime

/// Settings of the trajectory synthesizer (METHOD.md 3 and 4).
struct TrajectorySynthesizerConfiguration: ParsableArguments, Sendable {
    @Option(help: "Seed of every shuffle and sample, so a corpus is reproducible.")
    var seed: UInt64 = 20251125

    @Option(help: "Comparator that writes the DDx comparison text: template or endpoint.")
    var comparator: String = "template"

    @Option(help: "OpenAI-compatible chat-completions URL for --comparator endpoint.")
    var comparatorURL: String?

    @Option(help: "Model name sent to the comparator endpoint.")
    var comparatorModel: String = "default"

    @Option(help: "Passes over the sparse training splits when publishing RL prompts.")
    var epochs: Int = 1

    func validate() throws {
        guard ["template", "endpoint"].contains(comparator) else {
            throw ValidationError("--comparator must be template or endpoint, not '\(comparator)'")
        }
        if comparator == "endpoint" && comparatorURL == nil {
            throw ValidationError("--comparator endpoint needs --comparator-url")
        }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
    }
}
