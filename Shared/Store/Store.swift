/// The PostgreSQL store over libpq.
public enum StoreModule {
    public static let name = "Store"
}
