import Testing
@testable import DataSynth

@Test func moduleLinks() {
    #expect(!DataSynthModule.name.isEmpty)
}
