import Domain
import NeuralNet
import PolicyRuntime
import Testing
@testable import Workers

@Suite("The base's lookup probe")
struct LookupProbeTests {
    /// A tiny policy trained to answer one drill reads as right on it, and as wrong on the
    /// same prompt with another expected letter.
    @Test func aMemorisedDrillReadsAsRightAndAnotherLetterAsWrong() throws {
        var rng = SplitMix64(seed: 3, stream: "probe")
        let drill = try #require(VisualCorpus.lookup(names: ["Acne", "Wart", "Mole", "Rash"], imageSHA: "", rng: &rng))
        let letter = try #require(AnswerParser.parse(drill.answer, letters: VisualCorpus.letters).letter)
        let other = VisualCorpus.letters.first { $0 != letter }!
        var wrong = drill
        wrong.answer = PromptText.answer(thinking: "x", letter: other, condition: nil)

        let tokenizer = try BPETokenizer.train(corpus: [drill.prompt, drill.answer], vocabSize: 300)
        var config = ModelConfig.micro(vocabSize: tokenizer.vocabSize)
        config.maxSequence = 256
        let policy = try PolicyModel(config: config, seed: 1)
        let codec = PromptCodec(tokenizer: tokenizer, config: config)
        let optimizer = AdamW(layout: policy.layout)
        let reserve = 96
        let blank = [Float](repeating: 0, count: config.imageSize * config.imageSize * 3)
        let encoded = codec.trainingSequence(prompt: drill.prompt, answer: drill.answer, reserve: reserve)
        #expect(encoded.tokens.count - encoded.responseStart < reserve, "the answer fits the reserve")
        var loss: Float = 0
        for _ in 0..<150 {
            loss = try policy.supervisedStep(optimizer: optimizer, images: blank, encoded: [encoded], pad: tokenizer.pad,
                                          learningRate: 1e-2, maxNorm: 1, dropoutSeed: nil).loss
        }
        #expect(loss < 0.05, "the policy has memorised the drill")
        let result = try LookupProbe.run(policy: policy, codec: codec, tokenizer: tokenizer, drills: [drill, wrong],
                                         reserve: reserve, batch: 1) { range in range.flatMap { _ in blank } }
        #expect(result.drills == 2)
        #expect(result.letterAccuracy == 0.5, "right on the drill, wrong on the other letter")
        #expect(result.formatRate == 1)
        #expect(try LookupProbe.run(policy: policy, codec: codec, tokenizer: tokenizer, drills: [], reserve: reserve) { _ in [] }.drills == 0)
    }

    /// A drill's given reasoning is context: the training sequence holds it but the loss
    /// starts after it, and the probe feeds it after the prompt and reads what follows.
    @Test func aGivenReasoningIsFedAndOnlyTheRestIsLearned() throws {
        let given = "\(PromptText.thinkingOpen) These findings indicate Wart. \(PromptText.thinkingClose)"
        let drill = VisualExample(imageSHA: "", prompt: "Which diagnosis?\nA: Acne\nB: Wart\nC: Mole\nD: Rash",
                                  answer: PromptText.answer(thinking: "These findings indicate Wart.", letter: "B", condition: .benign),
                                  given: given)
        #expect(drill.answer.hasPrefix(given))
        let tokenizer = try BPETokenizer.train(corpus: [drill.prompt, drill.answer], vocabSize: 300)
        var config = ModelConfig.micro(vocabSize: tokenizer.vocabSize)
        config.maxSequence = 256
        let codec = PromptCodec(tokenizer: tokenizer, config: config)
        let reserve = 96
        let whole = codec.trainingSequence(prompt: drill.prompt, answer: drill.answer, reserve: reserve)
        let encoded = codec.trainingSequence(drill, reserve: reserve)
        #expect(encoded.tokens == whole.tokens, "the given reasoning stays in the sequence")
        #expect(encoded.responseStart == whole.responseStart + tokenizer.encode(given).count)
        let learned = tokenizer.decode(Array(encoded.tokens[encoded.responseStart...]).filter { $0 != tokenizer.eos })
        #expect(learned.trimmingCharacters(in: .whitespaces).hasPrefix(PromptText.finalOpen), "\(learned)")

        let policy = try PolicyModel(config: config, seed: 1)
        let optimizer = AdamW(layout: policy.layout)
        let blank = [Float](repeating: 0, count: config.imageSize * config.imageSize * 3)
        var loss: Float = 0
        for _ in 0..<100 {
            loss = try policy.supervisedStep(optimizer: optimizer, images: blank, encoded: [encoded], pad: tokenizer.pad,
                                          learningRate: 1e-2, maxNorm: 1, dropoutSeed: nil).loss
        }
        #expect(loss < 0.05, "the policy has learned the letter after the given reasoning")
        let result = try LookupProbe.run(policy: policy, codec: codec, tokenizer: tokenizer, drills: [drill],
                                         reserve: reserve, batch: 1) { range in range.flatMap { _ in blank } }
        #expect(result.letterAccuracy == 1 && result.formatRate == 1, "\(result)")
    }
}
