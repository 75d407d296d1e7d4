import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Chooses OpenBLAS's kernel from the CPU flags before the library does.
///
/// Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its
/// Prescott kernels (about 6x slower sgemm). The library reads `OPENBLAS_CORETYPE` once,
/// while it loads, which happens before `main` because every executable links it. So the
/// process sets the variable and re-executes itself once; a user's own setting always wins.
public enum BLASKernelSelection {
    /// Environment variable OpenBLAS reads at load time.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Marks the re-executed process, so it never loops.
    public static let reexecMarker = "SKINR1_BLAS_REEXEC"

    /// How the running kernel came to be chosen.
    public enum Origin: String, Sendable {
        case user = "set by the user"
        case selected = "selected from the CPU flags"
        case libraryDefault = "the library's own detection"
    }

    /// The kernel name for a set of `/proc/cpuinfo` flags, or `nil` to keep the library's choice.
    public static func kernel(forCPUFlags flags: Set<Substring>) -> String? {
        let skylakeX: Set<Substring> = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        if skylakeX.isSubset(of: flags) {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The CPU flags of the first processor listed in `/proc/cpuinfo`.
    public static func cpuFlags(cpuinfo: String) -> Set<Substring> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " "))
        }
        return []
    }

    /// The kernel this machine's CPU flags call for, or `nil` to keep the library's choice.
    public static func kernelForThisCPU() -> String? {
        guard let info = readSmallFile("/proc/cpuinfo") else { return nil }
        return kernel(forCPUFlags: cpuFlags(cpuinfo: info))
    }

    /// Sets `OPENBLAS_CORETYPE` and re-executes the process once when the user has not set it.
    /// Call it first thing in `main`. Returns normally in the process that keeps running.
    public static func ensureSelected() {
        guard getenv(coreTypeVariable) == nil, getenv(reexecMarker) == nil else { return }
        guard let kernel = kernelForThisCPU() else { return }
        setenv(coreTypeVariable, kernel, 1)
        setenv(reexecMarker, kernel, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: run on with the library's own choice.
        unsetenv(coreTypeVariable)
    }

    /// The kernel OpenBLAS is running, as the library reports it.
    public static var runningKernel: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static var origin: Origin {
        if getenv(reexecMarker) != nil, getenv(coreTypeVariable) != nil { return .selected }
        if getenv(coreTypeVariable) != nil { return .user }
        return .libraryDefault
    }

    /// One line for the start-up log.
    public static var summary: String {
        "OpenBLAS kernel \(runningKernel) (\(origin.rawValue))"
    }

    private static func readSmallFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
