import ArgumentParser
import BLASKernel
import Foundation
import NeuralNet
import ServiceRuntime

/// sgemm throughput with the kernel chosen at start and with OpenBLAS's own detection.
/// The library reads its kernel once when it loads, so the second figure comes from a
/// child process started without the selection; both are measured in one run.
struct BenchBLAS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas", abstract: "sgemm GFLOP/s: selected kernel vs the library's default, in one run.")

    @Option(help: "Matrix sizes n (n x n x n sgemm).")
    var sizes: [Int] = [256, 512, 1024]

    @Option(help: "Timed calls per size; the best is reported.")
    var repeats: Int = 5

    @Flag(help: "Print only the kernel this CPU calls for (empty when the library's choice stands).")
    var printSelection = false

    @Flag(help: .hidden)
    var measureOnly = false

    func run() async throws {
        if printSelection {
            Console.line(BLASKernelSelection.kernelForThisCPU() ?? "")
            return
        }
        let figures = sizes.map { ($0, BLASProbe.sgemmGFLOPS(n: $0, repeats: repeats)) }
        if measureOnly {
            Console.line(BLASKernelSelection.runningKernel)
            for (n, gflops) in figures { Console.line("\(n) \(gflops)") }
            return
        }
        let (defaultKernel, defaults) = try measureLibraryDefault()
        let chosen = BLASKernelSelection.runningKernel
        for (n, gflops) in figures {
            let baseline = defaults[n] ?? .nan
            Console.line(String(format: "sgemm n=%d: %.1f GFLOP/s with %@ vs %.1f GFLOP/s with %@ (%.1fx)",
                                n, gflops, chosen, baseline, defaultKernel, gflops / baseline))
        }
        Console.line("kernel: \(BLASKernelSelection.summary); library default: \(defaultKernel)")
    }

    /// Runs this command in a child that keeps OpenBLAS's own kernel detection.
    private func measureLibraryDefault() throws -> (String, [Int: Double]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["bench", "blas", "--measure-only", "--repeats", "\(repeats)"] + sizes.flatMap { ["--sizes", "\($0)"] }
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: BLASKernelSelection.coreTypeVariable)
        environment[BLASKernelSelection.reexecMarker] = "library-default"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("the library-default measurement exited with status \(process.terminationStatus)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        guard let kernel = lines.first else { throw ValidationError("the library-default measurement printed nothing") }
        var figures: [Int: Double] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = Int(parts[0]), let value = Double(parts[1]) { figures[n] = value }
        }
        return (String(kernel), figures)
    }
}
