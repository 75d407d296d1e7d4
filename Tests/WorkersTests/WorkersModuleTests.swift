import Testing
@testable import Workers

@Test func workersModuleLinks() {
    #expect(WorkersModule.name == "Workers")
}
