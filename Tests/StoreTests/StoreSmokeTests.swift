import Testing
@testable import Store

@Test func moduleLinks() {
    #expect(!StoreModule.name.isEmpty)
}
