import Testing
@testable import Domain

@Test func moduleLinks() {
    #expect(!DomainModule.name.isEmpty)
}
