import Domain
/// Loads the versioned knowledge files shipped with the product.
public enum KnowledgeModule { public static let name = "Knowledge" }
