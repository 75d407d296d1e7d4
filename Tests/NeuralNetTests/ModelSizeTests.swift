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
        #expect(counts == counts.sorted() && Set(counts).count == counts.count, "smallest first: \(counts)")
        // Narrow is nano at half the width with rotary positions, nothing else.
        var halved = ModelConfig.nano(vocabSize: 300)
        halved.channels = 128
        halved.rotary = true
        #expect(try ModelConfig.named("narrow", vocabSize: 300) == halved)
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
