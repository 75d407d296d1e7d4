import Domain
import NeuralNet
import PolicyRuntime

/// How well a policy answers the lookup drills (`VisualCorpus.drills`) it was not trained
/// on (a drill's given reasoning is fed after its prompt; the policy writes the rest): the
/// share whose greedy answer holds the expected letter, and the share in the strict format.
/// Whether the letter lookup has emerged shows here long before it shows in the disease
/// accuracy (chance is 0.25).
public enum LookupProbe {
    public struct Result: Sendable, Equatable {
        public var letterAccuracy: Double
        public var formatRate: Double
        public var drills: Int
    }

    /// Decodes `drills` greedily, `batch` at a time; `pixels(range)` gives the images of the
    /// drills in `range`, one after another. Blocking: run it on a dedicated thread.
    public static func run(policy: PolicyModel, codec: PromptCodec, tokenizer: BPETokenizer, drills: [VisualExample],
                           reserve: Int, batch: Int = 50, pixels: (Range<Int>) throws -> [Float]) throws -> Result {
        guard !drills.isEmpty else { return Result(letterAccuracy: 0, formatRate: 0, drills: 0) }
        var right = 0, formatted = 0
        /// The given beginning of a drill's answer, fed after its prompt.
        func given(_ drill: VisualExample) -> [Int32] { drill.given.isEmpty ? [] : tokenizer.encode(drill.given) }
        let options = SamplingOptions(maxNewTokens: reserve, temperature: 0, seed: 0, stopToken: tokenizer.eos)
        for start in stride(from: 0, to: drills.count, by: batch) {
            let range = start..<min(drills.count, start + batch)
            let rows = drills[range]
            let samples = try policy.generate(images: try pixels(range),
                                              prompts: rows.map { codec.promptTokens($0.prompt, reserve: reserve) + given($0) },
                                              options: options, tokenizer: tokenizer)
            for (drill, sample) in zip(rows, samples) {
                let expected = AnswerParser.parse(drill.answer, letters: VisualCorpus.letters).letter
                let written = drill.given.isEmpty ? sample.text : drill.given + " " + sample.text
                let parsed = AnswerParser.parse(written, letters: VisualCorpus.letters)
                if parsed.formatValid { formatted += 1 }
                if parsed.letter != nil, parsed.letter == expected { right += 1 }
            }
        }
        return Result(letterAccuracy: Double(right) / Double(drills.count),
                      formatRate: Double(formatted) / Double(drills.count), drills: drills.count)
    }
}
