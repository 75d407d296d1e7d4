import Testing
@testable import NeuralNet

@Suite("Named model sizes")
struct ModelSizeTests {
    @Test func everyNamedSizeIsValidAndOrderedBySize() throws {
        var counts: [Int] = []
        for name in ModelConfig.sizeNames {
            let config = try ModelConfig.named(name, vocabSize: 300)
            try config.validate()
            #expect(config.vocabSize == 300)
            counts.append(try PolicyModel(config: config, seed: 1).parameterCount)
        }
        #expect(counts == counts.sorted(), "smallest first: \(counts)")
        // Narrow is nano at half the width, nothing else; narrow-rotary adds rotary positions.
        var halved = ModelConfig.nano(vocabSize: 300)
        halved.channels = 128
        #expect(try ModelConfig.named("narrow", vocabSize: 300) == halved)
        halved.rotary = true
        #expect(try ModelConfig.named("narrow-rotary", vocabSize: 300) == halved)
        #expect(Set(counts).count == counts.count - 1, "the variant alone shares its shape's size: \(counts)")
    }

    @Test func anUnknownSizeIsAnErrorThatNamesIt() {
        do {
            _ = try ModelConfig.named("huge", vocabSize: 300)
            Issue.record("'huge' was accepted")
        } catch {
            #expect("\(error)".contains("'huge'") && "\(error)".contains("narrow"))
        }
    }
}
