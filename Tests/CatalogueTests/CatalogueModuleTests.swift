import Testing
@testable import Catalogue

@Test func catalogueModuleLinks() {
    #expect(CatalogueModule.name == "Catalogue")
}
