/// Writes the knowledge and the data catalogue into the store.
public enum CatalogueModule {
    public static let name = "Catalogue"
}
