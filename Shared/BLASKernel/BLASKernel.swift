public enum BLASKernelModule { public static let name = "BLASKernel" }
public enum BLASKernelSelection {
    public static func ensureSelected() {}
}
