import ArgumentParser
import DataSynth
import Domain
import Foundation
import Knowledge
import NeuralNet
import PolicyRuntime

/// Whether the policy learns to see: trains a fresh nano policy to name the dominant colour
/// of synthetic lesion images and reports held-out accuracy against the majority class.
struct BenchVision: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "Visual grounding check: a fresh policy learns to name the dominant colour of synthetic lesions; held-out accuracy vs majority class.")

    @Option(help: "Training steps (16 images each).")
    var steps = 300

    @Option(help: "Peak learning rate.")
    var learningRate: Double = 1e-3

    @Option(help: "Model size: micro, narrow, narrow-rotary or nano.")
    var model = "nano"

    @Option(help: "Override the pooling of the visual tokens (nano: 2).")
    var pool: Int?

    @Option(help: "Override the image side in pixels (nano: 32); the images are drawn at 64.")
    var imageSize: Int?

    @Option(help: "Override the patch side in pixels (nano: 4).")
    var patchSize: Int?

    @Option(help: "Override the vision layers (nano: 2).")
    var visionLayers: Int?

    @Option(help: "Override the width of every layer (nano: 256).")
    var channels: Int?

    @Option(help: "What the policy learns to name: colour (dominant colour), condition (benign, malignant, precancerous in situ), family (top-level taxonomy family) or diagnosis (the drawn leaf).")
    var task: VisionTask = .colour

    @Option(help: "Distinct images to train on (drawn from the large synthetic corpus when more than the default one holds).")
    var trainImages = 1200

    @Option(help: "Distinct images held out for the accuracy.")
    var heldOut = 200

    @Flag(help: "Ask with four options (the label and three other labels) and answer with the name, then the letter of the option that names it: also reports how often the letter is right and how often it is the letter of the named option.")
    var choices = false

    @Flag(help: "With --choices: write each option as 'name (letter)' instead of 'letter: name'.")
    var letterAfterName = false

    func run() async throws {
        let (steps, lr, size, pool, visionLayers, task) = (steps, Float(learningRate), model, pool, visionLayers, task)
        let (imageSize, patchSize, channels) = (imageSize, patchSize, channels)
        let (train, heldOut, choices, letterAfterName) = (trainImages, heldOut, choices, letterAfterName)
        guard train > 0, heldOut > 0 else { throw ValidationError("--train-images and --held-out must be positive") }
        try await onDedicatedThread {
            let knowledge = try KnowledgeBase.load()
            let total = train + heldOut
            func trainingCases(_ scale: CorpusScale) throws -> [SyntheticCase] {
                try CorpusPlanner.plan(knowledge: knowledge, seed: 1, scale: scale).allCases.filter { $0.datasetID != "textbook" }
            }
            // The default corpus when it holds enough images, else the large one.
            var candidates = try trainingCases(.default)
            if candidates.count < total { candidates = try trainingCases(.large) }
            guard total <= candidates.count else {
                throw ValidationError("--train-images + --held-out = \(total) exceeds the \(candidates.count) synthetic cases")
            }
            var rng = SplitMix64(seed: 5, stream: "vision-bench")
            let cases = Array(rng.shuffled(candidates).prefix(total))
            let prompt = task.prompt
            var images: [[Float]] = []
            var labels: [String] = []
            for item in cases {
                let rendered = try CorpusRendering.render(item, side: 64, quality: 90)
                let side = try imageSize ?? ModelConfig.named(size, vocabSize: 300).imageSize
                images.append(PolicyImage.normalize(try JPEG.decode(rendered.jpeg).preparedForModel(side: side).pixels))
                labels.append(task.label(of: item, taxonomy: knowledge.taxonomy))
            }
            let letterTexts = choices ? ["A", "B", "C", "D"].flatMap { ["\n\($0): ", ". \($0)", " (\($0))\n"] } : []
            let tokenizer = try BPETokenizer.train(corpus: [prompt] + labels + letterTexts, vocabSize: 300)
            var config = try ModelConfig.named(size, vocabSize: tokenizer.vocabSize)
            if let pool { config.poolSize = pool }
            if let visionLayers { config.visionLayers = visionLayers }
            if let imageSize { config.imageSize = imageSize }
            if let patchSize { config.patchSize = patchSize }
            if let channels { config.channels = channels }
            try config.validate()
            let policy = try PolicyModel(config: config, seed: 3)
            let codec = PromptCodec(tokenizer: tokenizer, config: config)
            let optimizer = AdamW(layout: policy.layout)
            let schedule = LearningRateSchedule(maxLR: lr, minLR: lr * 0.1, warmupSteps: max(1, steps / 10), totalSteps: steps)
            var loss: Float = 0
            let classes = Array(Set(labels)).sorted()
            let letters = ["A", "B", "C", "D"]
            /// The question about case `index` (four options with `choices`) and its answer.
            func question(_ index: Int, rng: inout SplitMix64) -> (prompt: String, answer: String, options: [String]) {
                guard choices else { return (prompt, labels[index], []) }
                let others = rng.shuffled(classes.filter { $0 != labels[index] }).prefix(3)
                let options = rng.shuffled([labels[index]] + others)
                let lines = zip(letters, options).map { letterAfterName ? "\($1) (\($0))" : "\($0): \($1)" }
                let letter = letters[options.firstIndex(of: labels[index])!]
                return (([prompt] + lines).joined(separator: "\n"), "\(labels[index]). \(letter)", options)
            }
            // Room for the longest answer: diagnosis names run to about 14 tokens of this small vocabulary.
            let reserve = choices ? 24 : 16
            for step in 0..<steps {
                let picks = (0..<16).map { _ in rng.nextInt(below: train) }
                let encoded = picks.map { index -> (tokens: [Int32], responseStart: Int) in
                    let q = question(index, rng: &rng)
                    return codec.trainingSequence(prompt: q.prompt, answer: q.answer, reserve: reserve)
                }
                loss = try policy.supervisedStep(optimizer: optimizer, images: picks.flatMap { images[$0] }, encoded: encoded,
                                                 pad: tokenizer.pad, learningRate: schedule.learningRate(at: step),
                                                 maxNorm: 1, dropoutSeed: nil).loss
            }
            var correct = 0, letterRight = 0, letterOfNamed = 0, namedAnOption = 0
            let options = SamplingOptions(maxNewTokens: reserve, temperature: 0, seed: 0, stopToken: tokenizer.eos)
            var heldRNG = SplitMix64(seed: 11, stream: "vision-bench-held-out")
            for start in stride(from: train, to: cases.count, by: 50) {
                let rows = Array(start..<min(cases.count, start + 50))
                let questions = rows.map { question($0, rng: &heldRNG) }
                let samples = try policy.generate(images: rows.flatMap { images[$0] },
                                                  prompts: questions.map { codec.promptTokens($0.prompt, reserve: reserve) },
                                                  options: options, tokenizer: tokenizer)
                for ((row, q), sample) in zip(zip(rows, questions), samples) {
                    let text = sample.text.trimmingCharacters(in: .whitespaces)
                    guard choices else {
                        if text == labels[row] { correct += 1 }
                        continue
                    }
                    // "name. L": the name before the last ". ", the letter after it.
                    guard let cut = text.range(of: ". ", options: .backwards) else { continue }
                    let name = String(text[..<cut.lowerBound]), letter = String(text[cut.upperBound...])
                    if name == labels[row] { correct += 1 }
                    if letter == letters[q.options.firstIndex(of: labels[row])!] { letterRight += 1 }
                    if let named = q.options.firstIndex(of: name) {
                        namedAnOption += 1
                        if letter == letters[named] { letterOfNamed += 1 }
                    }
                }
            }
            var counts: [String: Int] = [:]
            for label in labels[train...] { counts[label, default: 0] += 1 }
            let held = cases.count - train
            print("model: image \(config.imageSize), patch \(config.patchSize), visual tokens \(config.visualTokens), "
                  + "channels \(config.channels), \(policy.parameterCount) parameters")
            print(String(format: "vision %@: held-out accuracy %.3f vs majority %.3f (%d classes, %d training images, %d steps, final loss %.3f)",
                         task.rawValue, Double(correct) / Double(held), Double(counts.values.max() ?? 0) / Double(held),
                         Set(labels).count, train, steps, loss))
            if choices {
                print(String(format: "four options: letter right %.3f (chance 0.25); the letter is the named option's in %d of %d answers that name an option",
                             Double(letterRight) / Double(held), letterOfNamed, namedAnOption))
            }
        }
    }
}

/// The label a vision check asks the policy to name for one synthetic case.
enum VisionTask: String, ExpressibleByArgument, CaseIterable, Sendable {
    case colour, condition, family, diagnosis

    var prompt: String {
        switch self {
        case .colour: return "Which colour dominates the lesion?"
        case .condition: return "Is the lesion benign, malignant or precancerous in situ?"
        case .family: return "Which family of skin conditions does the lesion belong to?"
        case .diagnosis: return "What is the diagnosis of the lesion?"
        }
    }

    func label(of item: SyntheticCase, taxonomy: Taxonomy) -> String {
        switch self {
        case .colour: return item.appearance.palette.first!.text
        case .condition: return item.condition.text
        case .family:
            let path = taxonomy.path(to: item.drawnDiagnosis)
            return taxonomy.name(of: path.count > 1 ? path[1] : item.drawnDiagnosis)
        case .diagnosis: return taxonomy.name(of: item.drawnDiagnosis)
        }
    }
}
