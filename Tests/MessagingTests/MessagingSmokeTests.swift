import Testing
@testable import Messaging

@Test func moduleLinks() {
    #expect(!MessagingModule.name.isEmpty)
}
