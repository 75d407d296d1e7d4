import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Chooses OpenBLAS's kernel and idle-thread policy from the machine before the library does.
///
/// Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to its
/// Prescott kernels (about 6x slower sgemm). Its idle worker threads also spin for 2^28
/// cycles (about 0.1 s) after every multi-threaded call, taking a core from the other
/// processes of a run (a learner with two BLAS threads beside a rollout worker, or the
/// evaluator beside SFT). The library reads both settings once, while it loads, which
/// happens before `main` because every executable links it. So the process sets the
/// variables and re-executes itself once; a user's own settings always win.
public enum BLASKernelSelection {
    /// Environment variable OpenBLAS reads its kernel from at load time.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Environment variable OpenBLAS reads its idle-thread spin from at load time: worker
    /// threads wait 2^n cycles for new work before they sleep (n in 4...30).
    public static let threadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT"
    /// 2^4 cycles: idle BLAS threads sleep almost at once instead of spinning. Quick
    /// profile on two cores: SFT 105 s against 129 s beside the evaluator, the learner's
    /// GRPO step 0.72 s against 0.78-0.80 s beside a rollout worker.
    public static let threadTimeout = 4
    /// Marks the re-executed process, so it never loops; its value is the kernel it
    /// selected, or `-` when it only set the thread timeout.
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

    /// The variables to set before OpenBLAS loads, given the environment and the kernel the
    /// CPU calls for: none in a process already re-executed, and never one the user set.
    /// A non-empty answer includes `reexecMarker`.
    public static func settings(environment: [String: String], kernel: String?) -> [String: String] {
        guard environment[reexecMarker] == nil else { return [:] }
        var settings: [String: String] = [:]
        if environment[coreTypeVariable] == nil, let kernel { settings[coreTypeVariable] = kernel }
        if environment[threadTimeoutVariable] == nil { settings[threadTimeoutVariable] = "\(threadTimeout)" }
        if !settings.isEmpty { settings[reexecMarker] = settings[coreTypeVariable] ?? "-" }
        return settings
    }

    /// Sets the kernel and the thread timeout the user has not set, and re-executes the
    /// process once when it set any. Call it first thing in `main`. Returns normally in the
    /// process that keeps running.
    public static func ensureSelected() {
        var environment: [String: String] = [:]
        for name in [reexecMarker, coreTypeVariable, threadTimeoutVariable] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        let wanted = settings(environment: environment, kernel: environment[coreTypeVariable] == nil ? kernelForThisCPU() : nil)
        guard !wanted.isEmpty else { return }
        for (name, value) in wanted { setenv(name, value, 1) }
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: run on with the library's own choices.
        for name in wanted.keys { unsetenv(name) }
    }

    /// The kernel OpenBLAS is running, as the library reports it.
    public static var runningKernel: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static var origin: Origin {
        guard let coreType = getenv(coreTypeVariable).map({ String(cString: $0) }) else { return .libraryDefault }
        return getenv(reexecMarker).map({ String(cString: $0) }) == coreType ? .selected : .user
    }

    /// The idle-thread spin OpenBLAS was loaded with, as the environment gave it (nil: the
    /// library's default of 2^28 cycles).
    public static var threadTimeoutSetting: String? {
        getenv(threadTimeoutVariable).map { String(cString: $0) }
    }

    /// One line for the start-up log.
    public static var summary: String {
        let spin = threadTimeoutSetting.map { "idle threads spin 2^\($0) cycles" } ?? "idle threads spin the library's default"
        return "OpenBLAS kernel \(runningKernel) (\(origin.rawValue)), \(spin)"
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
