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

    @Option(help: "Model size: micro, narrow or nano.")
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

    func run() async throws {
        let (steps, lr, size, pool, visionLayers, task) = (steps, Float(learningRate), model, pool, visionLayers, task)
        let (imageSize, patchSize, channels) = (imageSize, patchSize, channels)
        let (train, heldOut) = (trainImages, heldOut)
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
            let tokenizer = try BPETokenizer.train(corpus: [prompt] + labels, vocabSize: 300)
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
            for step in 0..<steps {
                let picks = (0..<16).map { _ in rng.nextInt(below: train) }
                let encoded = picks.map { codec.trainingSequence(prompt: prompt, answer: labels[$0], reserve: 8) }
                let batch = try PolicyBatch(images: picks.flatMap { images[$0] }, sequences: encoded.map(\.tokens), pad: tokenizer.pad)
                let mask = try PolicyBatch.responseMask(lengths: encoded.map(\.tokens.count),
                                                        responseStarts: encoded.map(\.responseStart), length: batch.length)
                policy.zeroGrad()
                loss = try policy.sftForwardBackward(batch, responseMask: mask, dropoutSeed: nil)
                let trainable = policy.trainable
                _ = clipGradientNorm(trainable.grads, maxNorm: 1)
                optimizer.step(params: trainable.params, grads: trainable.grads, learningRate: schedule.learningRate(at: step))
            }
            var correct = 0
            let options = SamplingOptions(maxNewTokens: 16, temperature: 0, seed: 0, stopToken: tokenizer.eos)
            for start in stride(from: train, to: cases.count, by: 50) {
                let rows = Array(start..<min(cases.count, start + 50))
                let samples = try policy.generate(images: rows.flatMap { images[$0] },
                                                  prompts: rows.map { _ in codec.promptTokens(prompt, reserve: 8) },
                                                  options: options, tokenizer: tokenizer)
                for (row, sample) in zip(rows, samples)
                where sample.text.trimmingCharacters(in: .whitespaces) == labels[row] { correct += 1 }
            }
            var counts: [String: Int] = [:]
            for label in labels[train...] { counts[label, default: 0] += 1 }
            let held = cases.count - train
            print("model: image \(config.imageSize), patch \(config.patchSize), visual tokens \(config.visualTokens), "
                  + "channels \(config.channels), \(policy.parameterCount) parameters")
            print(String(format: "vision %@: held-out accuracy %.3f vs majority %.3f (%d classes, %d training images, %d steps, final loss %.3f)",
                         task.rawValue, Double(correct) / Double(held), Double(counts.values.max() ?? 0) / Double(held),
                         Set(labels).count, train, steps, loss))
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
