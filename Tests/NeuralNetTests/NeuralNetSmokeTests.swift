import Testing
@testable import NeuralNet

@Test func moduleLinks() {
    #expect(!NeuralNetModule.name.isEmpty)
}
