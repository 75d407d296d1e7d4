import ArgumentParser
import Domain
import Foundation
import Knowledge
import NeuralNet
import Pipeline
import PolicyRuntime
import Workers

/// Whether the policy can answer a multiple-choice question with the letter of the option
/// that names what it has concluded: trains a fresh policy on text-only lookup drills
/// (`VisualCorpus.lookup`) over the taxonomy's names and reports held-out letter accuracy
/// as training goes.
struct BenchLookup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Letter lookup check: a fresh policy learns to answer with the letter of the option that names what the question asks for; held-out letter accuracy vs chance (0.25) as training goes.")

    @Option(help: "Training steps (16 drills each).")
    var steps = 1200

    @Option(help: "Evaluate every this many steps (and after the last).")
    var every = 300

    @Option(help: "Peak learning rate.")
    var learningRate: Double = 1e-3

    @Option(help: "Model size: micro, narrow, narrow-rotary or nano.")
    var model = "narrow"

    @Option(help: "Rotary positions in the decoder's attention: on or off (default: the model size's own).")
    var rotary: Switch?

    @Option(help: "Decoder layers (default: the model size's own).")
    var decoderLayers: Int?

    @Option(help: "Attention heads (default: the model size's own).")
    var heads: Int?

    @Option(help: "Tokenizer vocabulary (the product's default is 1024).")
    var vocab = 1024

    @Flag(help: "Keep each name whole as one token.")
    var wholeNames = false

    @Flag(help: "Put the answer instructions before the options instead of after them.")
    var instructionsFirst = false

    @Flag(help: "Ask the plain drill's question after the options instead of before them.")
    var questionAfter = false

    @Flag(help: "Write each option as 'text (letter)' instead of 'letter: text' (with --format disease: '- text (letter)', and the reasoning's conclusion is followed by its letter).")
    var lettersAfter = false

    @Flag(help: "End the reasoning by naming the option's letter after its text ('..., option C.').")
    var letterInReasoning = false

    @Option(help: "Drill format: plain ('Which option names X?') or disease (the disease question with a given reasoning that concludes one option).")
    var format: BaseQuestionFormat = .plain

    @Flag(help: "With --format disease: learn the given reasoning too instead of only what follows it.")
    var learnReasoning = false

    @Flag(help: "With --format disease: after its conclusion the reasoning reads the options out up to the concluded one (learned).")
    var checkOptions = false

    @Flag(help: "With --format disease: the given reasoning is only its conclusion ('These findings indicate X.'), without the findings.")
    var shortReasoning = false

    @Flag(help: "With --format disease: after the given conclusion the reasoning restates it ('The answer is the option that indicates X.'), learned.")
    var restate = false

    @Flag(help: "Give the reasoning as context and learn only what follows it (plain drills; disease drills always do unless --learn-reasoning).")
    var givenReasoning = false

    @Flag(help: "With --format disease: ask 'Which option names X?' after the options, X the concluded option.")
    var ask = false

    enum ReadOptions: String, ExpressibleByArgument { case first, after }

    @Option(help: "With --format disease: the reasoning reads every option out ('The options are A: ..., B: ....'), learned: first (before the findings; the whole reasoning is then learned, read the teacher-forced accuracy) or after the given conclusion.")
    var readOptions: ReadOptions?

    @Flag(help: "With --format disease: the case's naming question instead (the findings given as text stand in for the image; the diagnosis they indicate, its letter and condition learned).")
    var labelConclusion = false

    @Flag(help: "With --format disease: after the conclusion the reasoning judges every option in turn ('Checking the options: A: ..., no; B: ..., yes; ...'), learned.")
    var judge = false

    @Flag(help: "With --format disease: train on plain drills at every other step.")
    var mix = false

    @Option(help: "With --format disease: train on plain drills before this step, disease drills from it on (0: disease drills throughout).")
    var plainUntil = 0

    @Option(help: "Seed of the policy's initialisation and of the training drills.")
    var seed: UInt64 = 3

    @Option(help: "Held-out drills per evaluation.")
    var heldOut = 200

    @Option(help: "Print this many held-out drills' greedy answers at every evaluation.")
    var show = 0

    enum Switch: String, ExpressibleByArgument { case on, off }

    func run() async throws {
        let (steps, every, lr, size, vocab, heldOut, wholeNames) = (steps, every, Float(learningRate), model, vocab, heldOut, wholeNames)
        let (instructionsFirst, lettersAfter, letterInReasoning, seed) = (instructionsFirst, lettersAfter, letterInReasoning, seed)
        let (format, learnReasoning, plainUntil, checkOptions) = (format, learnReasoning, plainUntil, checkOptions)
        let (questionAfter, shortReasoning, restate, givenReasoning, ask, mix) = (questionAfter, shortReasoning, restate, givenReasoning, ask, mix)
        let (readOptions, labelConclusion, judge) = (readOptions, labelConclusion, judge)
        /// An option line of a prompt ("C: text").
        @Sendable func isOptionLine(_ line: String) -> Bool {
            line.count > 3 && VisualCorpus.letters.contains(String(line.prefix(1))) && line.dropFirst().hasPrefix(": ")
        }
        let rotary = rotary.map { $0 == .on }
        let (decoderLayers, heads) = (decoderLayers, heads)
        guard steps > 0, every > 0, heldOut > 0 else { throw ValidationError("--steps, --every and --held-out must be positive") }
        try await onDedicatedThread {
            let knowledge = try KnowledgeBase.load()
            let names = knowledge.taxonomy.nonRootIDs.map { knowledge.taxonomy.name(of: $0) }
            // Disease drills: every diagnosis with a rule is a case of one dataset, its findings
            // the rule's hallmarks; each drill is a fresh case id, so a fresh question.
            let taxonomy = knowledge.taxonomy
            let builder = QuestionBuilder(taxonomy: taxonomy, graph: knowledge.graph)
            let ruled = knowledge.rules.keys.sorted()
            let pathTerms = DatasetPathTerms(cases: ruled.map { QuestionCase(caseID: $0, dataset: "bench", label: $0, imageSHA: "") },
                                             taxonomy: taxonomy)
            func drill(_ rng: inout SplitMix64, step: Int = .max) -> VisualExample {
                if format == .disease, step >= plainUntil, !(mix && step % 2 == 0) {
                    let node = ruled[rng.nextInt(below: ruled.count)]
                    let item = CaseAppearance(caseID: "bench-\(rng.next())", imageSHA: "", appearance: knowledge.rules[node]!.hallmarks,
                                              label: node, dataset: "bench")
                    if labelConclusion {
                        guard var naming = VisualCorpus.diseaseNaming(for: item, builder: builder, pathTerms: pathTerms, seed: seed,
                                                                      judgesOptions: judge),
                              let indicate = naming.answer.range(of: "These findings indicate") else { return drill(&rng, step: step) }
                        naming.given = String(naming.answer[..<indicate.upperBound])
                        return naming
                    }
                    var drill = VisualCorpus.answerDrill(for: item, builder: builder, pathTerms: pathTerms, seed: seed,
                                                         checksOptions: checkOptions, judgesOptions: judge)!
                    if lettersAfter, let letter = AnswerParser.parse(drill.answer, letters: VisualCorpus.letters).letter {
                        // Options as "- text (letter)"; the reasoning's conclusion is given up to the
                        // name, and the letter after it, "Name (C).", is learned with the answer.
                        drill.prompt = drill.prompt.components(separatedBy: "\n").map { line in
                            guard isOptionLine(line) else { return line }
                            return "- \(line.dropFirst(3)) (\(line.prefix(1)))"
                        }.joined(separator: "\n")
                        let close = ". \(PromptText.thinkingClose)"
                        drill.answer = drill.answer.replacingOccurrences(of: close, with: " (\(letter))" + close)
                        drill.given = String(drill.given.dropLast(close.count))
                    }
                    if shortReasoning, let shows = drill.answer.range(of: "The image shows "),
                       let findings = drill.answer.range(of: "These findings indicate ") {
                        let cut = String(drill.answer[shows.lowerBound..<findings.lowerBound])
                        drill.answer = drill.answer.replacingOccurrences(of: cut, with: "")
                        drill.given = drill.given.replacingOccurrences(of: cut, with: "")
                    }
                    if restate, let start = drill.answer.range(of: "These findings indicate "),
                       let end = drill.answer.range(of: ". \(PromptText.thinkingClose)") {
                        let name = drill.answer[start.upperBound..<end.lowerBound]
                        drill.answer.replaceSubrange(end, with: ". The answer is the option that indicates \(name). \(PromptText.thinkingClose)")
                        drill.given = String(drill.given.dropLast(" \(PromptText.thinkingClose)".count))
                    }
                    if ask, let start = drill.answer.range(of: "These findings indicate "),
                       let end = drill.answer.range(of: ".", range: start.upperBound..<drill.answer.endIndex) {
                        var lines = drill.prompt.components(separatedBy: "\n")
                        lines.insert(VisualCorpus.lookupQuestion.replacingOccurrences(of: "%@", with: String(drill.answer[start.upperBound..<end.lowerBound])),
                                     at: lines.count - 1)
                        drill.prompt = lines.joined(separator: "\n")
                    }
                    if let readOptions {
                        let read = drill.prompt.components(separatedBy: "\n").filter(isOptionLine)
                        let text = "The options are " + read.joined(separator: ", ") + "."
                        switch readOptions {
                        case .first:
                            drill.answer = drill.answer.replacingOccurrences(of: "\(PromptText.thinkingOpen) ", with: "\(PromptText.thinkingOpen) \(text) ")
                            drill.given = ""
                        case .after:
                            let close = " \(PromptText.thinkingClose)"
                            drill.answer = drill.answer.replacingOccurrences(of: ".\(close)", with: ". \(text)\(close)")
                            drill.given = String(drill.given.dropLast(close.count))
                        }
                    }
                    if learnReasoning { drill.given = "" }
                    return drill
                }
                var drill = VisualCorpus.lookup(names: names, imageSHA: "", rng: &rng)!
                if instructionsFirst {
                    var lines = drill.prompt.components(separatedBy: "\n")
                    lines.insert(lines.removeLast(), at: 1)
                    drill.prompt = lines.joined(separator: "\n")
                }
                if questionAfter {
                    var lines = drill.prompt.components(separatedBy: "\n")
                    lines.insert(lines.removeFirst(), at: lines.count - 1)
                    drill.prompt = lines.joined(separator: "\n")
                }
                if lettersAfter {
                    drill.prompt = drill.prompt.components(separatedBy: "\n").map { line in
                        guard isOptionLine(line) else { return line }
                        return "\(line.dropFirst(3)) (\(line.prefix(1)))"
                    }.joined(separator: "\n")
                }
                if letterInReasoning, let letter = AnswerParser.parse(drill.answer, letters: VisualCorpus.letters).letter {
                    drill.answer = drill.answer.replacingOccurrences(of: ". \(PromptText.thinkingClose)", with: ", option \(letter). \(PromptText.thinkingClose)")
                }
                if givenReasoning, let close = drill.answer.range(of: PromptText.thinkingClose) {
                    drill.given = String(drill.answer[..<close.upperBound])
                }
                return drill
            }
            var heldRNG = SplitMix64(seed: 13, stream: "lookup-bench-held-out")
            let held = (0..<heldOut).map { _ in drill(&heldRNG) }
            var sampleRNG = SplitMix64(seed: 17, stream: "lookup-bench-tokenizer")
            let texts = (0..<2000).flatMap { i in
                let d = drill(&sampleRNG, step: (plainUntil > 0 || mix) && i % 2 == 0 ? 0 : .max)
                return [d.prompt, d.answer]
            } + names
            let tokenizer = try BPETokenizer.train(corpus: texts, vocabSize: vocab, phrases: wholeNames ? names : [])
            var config = try ModelConfig.named(size, vocabSize: tokenizer.vocabSize)
            if let rotary { config.rotary = rotary }
            if let decoderLayers { config.decoderLayers = decoderLayers }
            if let heads { config.heads = heads }
            try config.validate()
            let policy = try PolicyModel(config: config, seed: seed)
            let codec = PromptCodec(tokenizer: tokenizer, config: config)
            let optimizer = AdamW(layout: policy.layout)
            let schedule = LearningRateSchedule(maxLR: lr, minLR: lr * 0.1, warmupSteps: max(1, steps / 10), totalSteps: steps)
            let reserve = format == .disease ? 96 : 48
            let blank = [Float](repeating: 0, count: config.imageSize * config.imageSize * 3)
            print("a held-out drill and its answer:\n\(held[0].prompt)\n\(held[0].answer)")
            let answerTokens = held.map { codec.trainingSequence($0, reserve: 0) }.map { $0.tokens.count - $0.responseStart }
            print("answer tokens: at most \(answerTokens.max() ?? 0), mean \(answerTokens.reduce(0, +) / max(1, answerTokens.count))")
            print("model: \(size), \(config.usesRotary ? "rotary and learned" : "learned") positions, channels \(config.channels), "
                  + "\(config.decoderLayers) decoder layers, \(config.heads) heads, \(policy.parameterCount) parameters; "
                  + "tokenizer \(tokenizer.vocabSize) tokens\(wholeNames ? ", names whole" : ""); \(names.count) names")

            func evaluate() throws -> LookupProbe.Result {
                try LookupProbe.run(policy: policy, codec: codec, tokenizer: tokenizer, drills: held, reserve: reserve) { range in
                    range.flatMap { _ in blank }
                }
            }

            /// Teacher-forced letter accuracy: the share of held-out drills whose own answer scores
            /// higher with its letter than with any other (the whole sequence fed, so a gap between
            /// this and the probe's greedy answers points at decoding, not at the lookup).
            let heldLetters = held.map { AnswerParser.parse($0.answer, letters: VisualCorpus.letters).letter ?? "A" }
            func teacherForced() throws -> Double {
                var right = 0
                for start in stride(from: 0, to: held.count, by: 12) {
                    let rows = start..<min(held.count, start + 12)
                    var sequences: [[Int32]] = [], starts: [Int] = []
                    for index in rows {
                        let drill = held[index], expected = heldLetters[index]
                        for letter in VisualCorpus.letters {
                            var variant = drill
                            variant.answer = drill.answer
                                .replacingOccurrences(of: "\(PromptText.finalOpen) \(expected)", with: "\(PromptText.finalOpen) \(letter)")
                                .replacingOccurrences(of: " (\(expected)). ", with: " (\(letter)). ")
                            let encoded = codec.trainingSequence(variant, reserve: reserve)
                            sequences.append(encoded.tokens); starts.append(encoded.responseStart)
                        }
                    }
                    let lp = try policy.sequenceLogProbs(images: sequences.flatMap { _ in blank }, sequences: sequences)
                    let scores = zip(lp, starts).map { row, start in row[start...].reduce(0, +) }
                    for (i, index) in rows.enumerated() {
                        let group = Array(scores[(i * 4)..<(i * 4 + 4)])
                        if VisualCorpus.letters[group.firstIndex(of: group.max()!)!] == heldLetters[index] { right += 1 }
                    }
                }
                return Double(right) / Double(held.count)
            }

            var rng = SplitMix64(seed: seed &+ 4, stream: "lookup-bench")
            let started = Date()
            for step in 0..<steps {
                let drills = (0..<16).map { _ in drill(&rng, step: step) }
                let encoded = drills.map { codec.trainingSequence($0, reserve: reserve) }
                let loss = try policy.supervisedStep(optimizer: optimizer, images: drills.flatMap { _ in blank }, encoded: encoded,
                                                     pad: tokenizer.pad, learningRate: schedule.learningRate(at: step),
                                                     maxNorm: 1, dropoutSeed: nil).loss
                if (step + 1) % every == 0 || step == steps - 1 {
                    let result = try evaluate()
                    print(String(format: "step %5d  loss %.3f  letter right %.3f (chance 0.25, teacher-forced %.3f)  format %.3f  %.0f s",
                                 step + 1, loss, result.letterAccuracy, try teacherForced(), result.formatRate, Date().timeIntervalSince(started)))
                    if show > 0 {
                        let rows = Array(held.prefix(show))
                        let prompts = rows.map { codec.promptTokens($0.prompt, reserve: reserve) + tokenizer.encode($0.given) }
                        let samples = try policy.generate(images: rows.flatMap { _ in blank }, prompts: prompts,
                                                          options: SamplingOptions(maxNewTokens: reserve, temperature: 0, seed: 0,
                                                                                   stopToken: tokenizer.eos), tokenizer: tokenizer)
                        for (row, sample) in zip(rows, samples) { print("  given: …\(row.given.suffix(60))\n  wrote: \(sample.text)") }
                    }
                }
            }
        }
    }
}

extension BaseQuestionFormat: ExpressibleByArgument {}
