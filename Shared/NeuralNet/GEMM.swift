import COpenBLAS
import Foundation
import Synchronization

/// Row-major C = alpha * op(A) @ op(B) + beta * C, where op(X) is X or X^T.
/// m x k times k x n; lda/ldb/ldc are row strides. Every matmul of the model goes
/// through here, so the FLOP counter below sees all of them.
@inline(__always)
func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
          _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
          _ b: UnsafePointer<Float>, _ ldb: Int,
          _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    GEMMStats.flops.add(2 * m * n * k, ordering: .relaxed)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The reference kernel: the same contract as `gemm`, three plain loops with a Double
/// accumulator. Tests hold the BLAS path against it.
func naiveGemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
               _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
               _ b: UnsafePointer<Float>, _ ldb: Int,
               _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc += Double(av) * Double(bv)
            }
            let old = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * Float(acc) + old
        }
    }
}

/// Floating-point operations issued through `gemm` since the process started
/// (2 per multiply-add). Benchmarks read differences of it around a timed region.
public enum GEMMStats {
    static let flops = Atomic<Int>(0)
    public static var totalFLOPs: Int { flops.load(ordering: .relaxed) }
}

/// Thread settings of the numeric code.
public enum NeuralNetThreads {
    static let loops = Atomic<Int>(max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)))
    /// Threads for the element-wise loops and the per-head attention (default: the cores).
    /// 1 runs everything on the calling thread.
    public static var loopThreads: Int {
        get { loops.load(ordering: .relaxed) }
        set { loops.store(max(1, newValue), ordering: .relaxed) }
    }

    /// The BLAS thread count chosen by the program (0 until set: the library's default).
    static let configuredBLAS = Atomic<Int>(0)

    /// Threads of the numeric code: OpenBLAS inside one sgemm call and the element-wise and
    /// attention loops alike. A process that shares the cores with other busy processes
    /// does best with 1: threads of its own only wait for each other there.
    public static func setThreads(_ n: Int) {
        configuredBLAS.store(max(1, n), ordering: .relaxed)
        openblas_set_num_threads(Int32(max(1, n)))
        loopThreads = n
    }
    /// The configured BLAS thread count (what sections that briefly run BLAS serially restore).
    public static var blasThreads: Int {
        let n = configuredBLAS.load(ordering: .relaxed)
        if n > 0 { return n }
        let lib = Int(openblas_get_num_threads())
        configuredBLAS.store(lib, ordering: .relaxed)
        return lib
    }
    /// The kernel family OpenBLAS picked at load time (e.g. "SkylakeX", "Prescott").
    public static var blasKernel: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}

/// Measures the sgemm peak of this process, the yardstick of every model benchmark.
public enum BLASProbe {
    /// GFLOP/s of cblas_sgemm on n x n x n matrices: best of `repeats` timed calls after
    /// one warm-up call.
    public static func sgemmGFLOPS(n: Int, repeats: Int) -> Double {
        precondition(n > 0 && repeats > 0, "sgemmGFLOPS needs n > 0 and repeats > 0")
        var rng = SeededGenerator(seed: 7)
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        for i in 0..<(n * n) { a[i] = rng.nextUniform() - 0.5; b[i] = rng.nextUniform() - 0.5 }
        func run() {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                        1, a.pointer, Int32(n), b.pointer, Int32(n), 0, c.pointer, Int32(n))
        }
        run()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            run()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            best = min(best, dt)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}

/// y (m) = alpha * op(A) x + beta * y, row-major A (rows x cols, stride lda);
/// op(A) = A^T when `trans`, so m is cols then.
@inline(__always)
func gemv(_ trans: Bool, _ rows: Int, _ cols: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
          _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>) {
    if rows == 0 || cols == 0 { return }
    GEMMStats.flops.add(2 * rows * cols, ordering: .relaxed)
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols),
                alpha, a, Int32(lda), x, 1, beta, y, 1)
}

/// Carries a non-Sendable closure into `concurrentPerform`. @unchecked is sound here
/// because concurrentPerform returns only after every worker finished, and the callers
/// hand each worker a disjoint range of the buffers they write.
struct ParallelBody: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}

/// Runs body over contiguous pieces of 0..<n on up to `NeuralNetThreads.loopThreads`
/// threads; small jobs (under `minPerThread` items per thread) stay on the caller.
@inline(__always)
func parallelRanges(_ n: Int, minPerThread: Int, _ body: (Range<Int>) -> Void) {
    let threads = min(NeuralNetThreads.loopThreads, n / max(1, minPerThread))
    if threads <= 1 { body(0..<n); return }
    withoutActuallyEscaping(body) { b in
        let box = ParallelBody(run: b)
        DispatchQueue.concurrentPerform(iterations: threads) { i in
            box.run((i * n / threads)..<((i + 1) * n / threads))
        }
    }
}

/// Runs body in parallel over pieces of 0..<n, each piece making its own single-threaded
/// sgemm calls (OpenBLAS is told to use one thread meanwhile, so the calls do not fight
/// over its thread pool).
func parallelWithSerialBLAS(_ n: Int, _ body: (Range<Int>) -> Void) {
    let threads = min(NeuralNetThreads.loopThreads, n)
    if threads <= 1 { body(0..<n); return }
    let blas = Int32(NeuralNetThreads.blasThreads)
    openblas_set_num_threads(1)
    withoutActuallyEscaping(body) { b in
        let box = ParallelBody(run: b)
        DispatchQueue.concurrentPerform(iterations: threads) { i in
            box.run((i * n / threads)..<((i + 1) * n / threads))
        }
    }
    openblas_set_num_threads(blas)
}
