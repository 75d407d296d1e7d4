import Testing
@testable import ServiceRuntime

@Test func moduleLinks() {
    #expect(!ServiceRuntimeModule.name.isEmpty)
}
