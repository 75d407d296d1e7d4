import Foundation
import Testing
@testable import NeuralNet

@Suite struct MatmulTests {
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func blasMatchesNaive(transA: Bool, transB: Bool) {
        let m = 7, n = 5, k = 9
        // strides larger than the logical widths, as the attention code uses them
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 4
        let a = FloatBuffer(randomFloats((transA ? k : m) * lda, seed: 1))
        let b = FloatBuffer(randomFloats((transB ? n : k) * ldb, seed: 2))
        let c0 = randomFloats(m * ldc, seed: 3)
        let c1 = FloatBuffer(c0), c2 = FloatBuffer(c0)
        gemm(transA, transB, m, n, k, 0.7, a.pointer, lda, b.pointer, ldb, 0.5, c1.pointer, ldc)
        naiveGemm(transA, transB, m, n, k, 0.7, a.pointer, lda, b.pointer, ldb, 0.5, c2.pointer, ldc)
        var worst: Float = 0
        for i in 0..<m { for j in 0..<n { worst = max(worst, abs(c1[i * ldc + j] - c2[i * ldc + j])) } }
        print("[gemm \(transA ? "T" : "N")\(transB ? "T" : "N")] worst difference BLAS vs naive \(worst)")
        #expect(worst < 1e-5)
        // entries outside the logical n columns are untouched
        #expect(c1[ldc - 1] == c0[ldc - 1])
    }

    @Test func gemvMatchesNaive() {
        let rows = 6, cols = 4, lda = 5
        let a = FloatBuffer(randomFloats(rows * lda, seed: 4))
        let x = FloatBuffer(randomFloats(rows, seed: 5)), y = FloatBuffer(count: cols)
        gemv(true, rows, cols, 1, a.pointer, lda, x.pointer, 0, y.pointer)
        let y2 = FloatBuffer(count: cols)
        naiveGemm(false, false, 1, cols, rows, 1, x.pointer, rows, a.pointer, lda, 0, y2.pointer, cols)
        for j in 0..<cols { #expect(abs(y[j] - y2[j]) < 1e-5) }
    }

    @Test func probeMeasuresSomething() {
        let g = BLASProbe.sgemmGFLOPS(n: 64, repeats: 2)
        #expect(g > 0 && g.isFinite)
        #expect(!NeuralNetThreads.blasKernel.isEmpty)
    }
}

@Suite struct FastMathTests {
    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            var v = F16()
            for i in 0..<16 { v[i] = x + Float(i) * 0.37 }
            let e = vexp(v)
            for i in 0..<16 where v[i] < 88 {
                let ref = Float(exp(Double(v[i])))
                worst = max(worst, abs(e[i] - ref) / ref)
                #expect(e[i] == expPolynomial(v[i]))
            }
            x += 5.1
        }
        print("[vexp] worst relative error vs exp \(worst)")
        #expect(worst < 1e-6)
        #expect(vexp(F16(repeating: -1000))[0] >= 0 && vexp(F16(repeating: -1000))[0] < 1e-37)
    }
}
