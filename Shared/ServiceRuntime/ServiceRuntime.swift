public enum ServiceRuntimeModule { public static let name = "ServiceRuntime" }
