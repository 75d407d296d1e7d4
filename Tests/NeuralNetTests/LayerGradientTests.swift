import Foundation
import Testing
@testable import NeuralNet

/// Each layer's backward against central differences of L = sum(out * R), R random;
/// every entry of every input and weight is checked.
@Suite struct LayerGradientTests {
    typealias Tensor = (name: String, value: FloatBuffer, grad: FloatBuffer)

    func check(_ label: String, _ tensors: [Tensor], out: FloatBuffer,
               forward: () -> Void, backward: (UnsafePointer<Float>) -> Void) -> Double {
        let r = FloatBuffer(randomFloats(out.count, seed: 1234))
        forward()
        for t in tensors { t.grad.zero() }
        backward(r.pointer)
        func loss() -> Double {
            forward()
            var s = 0.0
            for i in 0..<out.count { s += Double(out[i]) * Double(r[i]) }
            return s
        }
        var worst = 0.0, worstName = ""
        for t in tensors {
            let (w, _) = finiteDifferenceCheck(buffer: t.value.pointer, indices: Array(0..<t.value.count),
                                               analytic: { Double(t.grad[$0]) }, eps: 1e-2, loss: loss)
            if w > worst { worst = w; worstName = t.name }
        }
        forward()   // leave the outputs of the unperturbed inputs for value checks
        print("[\(label)] worst relative gradient error \(worst) (\(worstName))")
        return worst
    }

    func tensor(_ name: String, _ n: Int, seed: UInt64, scale: Float = 1) -> Tensor {
        (name, FloatBuffer(randomFloats(n, seed: seed, scale: scale)), FloatBuffer(count: n))
    }

    @Test(arguments: [true, false]) func norm(layerNorm: Bool) {
        let n = 3, c = 8
        let x = tensor("x", n * c, seed: 1), w = tensor("w", c, seed: 2), b = tensor("b", c, seed: 3)
        let out = FloatBuffer(count: n * c), mean = FloatBuffer(count: n), rstd = FloatBuffer(count: n)
        let ts = layerNorm ? [x, w, b] : [x, w]
        let err = check(layerNorm ? "LayerNorm" : "RMSNorm", ts, out: out, forward: {
            normForward(out.pointer, mean.pointer, rstd.pointer, x.value.pointer, w.value.pointer,
                        layerNorm ? b.value.pointer : nil, n, c)
        }, backward: { d in
            normBackward(x.grad.pointer, w.grad.pointer, layerNorm ? b.grad.pointer : nil, d, x.value.pointer,
                         w.value.pointer, mean.pointer, rstd.pointer, layerNorm, n, c)
        })
        #expect(err < 1e-2)
    }

    @Test func linear() {
        let n = 3, i = 5, o = 4
        let x = tensor("x", n * i, seed: 4), w = tensor("W", o * i, seed: 5), b = tensor("b", o, seed: 6)
        let out = FloatBuffer(count: n * o)
        let err = check("linear", [x, w, b], out: out, forward: {
            linearForward(out.pointer, x.value.pointer, w.value.pointer, b.value.pointer, n, i, o)
        }, backward: { d in
            linearBackward(x.grad.pointer, w.grad.pointer, b.grad.pointer, d, x.value.pointer, w.value.pointer, n, i, o)
        })
        #expect(err < 1e-2)
    }

    @Test(arguments: [Float(0), 0.3]) func lora(dropout: Float) {
        let n = 3, i = 5, o = 6, r = 2, g = 3
        let x = tensor("x", n * i, seed: 7), a = tensor("A", g * r * i, seed: 8), bm = tensor("B", o * r, seed: 9)
        let out = FloatBuffer(count: n * o)
        let h = FloatBuffer(count: n * g * r), xd = FloatBuffer(count: n * i), mk = FloatBuffer(count: n * i)
        let cache = LoRACache(h: h.pointer, xdrop: xd.pointer, mask: mk.pointer)
        let dh = FloatBuffer(count: n * g * r), dx = FloatBuffer(count: n * i)
        let err = check("LoRA g=3 dropout \(dropout)", [x, a, bm], out: out, forward: {
            out.zero()
            var rng: SeededGenerator? = dropout > 0 ? SeededGenerator(seed: 5) : nil
            loraForward(out.pointer, cache, x.value.pointer, a.value.pointer, bm.value.pointer, n, i, o, r, g, 1.5, dropout, &rng)
        }, backward: { d in
            loraBackward(x.grad.pointer, a.grad.pointer, bm.grad.pointer, dh.pointer, dx.pointer, d, cache, x.value.pointer,
                         a.value.pointer, bm.value.pointer, n, i, o, r, g, 1.5, dropout > 0)
        })
        #expect(err < 1e-2)
    }

    @Test(arguments: [true, false]) func attention(causal: Bool) {
        let b = 2, l = 4, c = 8, h = 2
        let qkv = tensor("qkv", b * l * 3 * c, seed: 10)
        let out = FloatBuffer(count: b * l * c), att = FloatBuffer(count: b * h * l * l)
        let err = check(causal ? "attention, causal" : "attention, bidirectional", [qkv], out: out, forward: {
            attentionForward(out.pointer, att.pointer, qkv.value.pointer, b, l, c, h, causal)
        }, backward: { d in
            attentionBackward(qkv.grad.pointer, d, qkv.value.pointer, att.pointer, b, l, c, h, causal)
        })
        #expect(err < 1e-2)
        if causal {
            // position 0 attends only to itself: its output is its own value vector
            for j in 0..<(c / h) { #expect(abs(out[j] - qkv.value[2 * c + j]) < 1e-6) }
        }
    }

    @Test func rotaryPositionsKeepDotProductsRelativeAndInvert() {
        let c = 8, h = 2, hs = c / h, l = 7
        let qkv = tensor("qkv", l * 3 * c, seed: 12)
        var rng = SeededGenerator(seed: 13)
        // the same q and k vectors at every position, so that only the rotation differs
        let q = (0..<c).map { _ in rng.nextGaussian() }, k = (0..<c).map { _ in rng.nextGaussian() }
        for t in 0..<l { for j in 0..<c { qkv.value[t * 3 * c + j] = q[j]; qkv.value[t * 3 * c + c + j] = k[j] } }
        let original = qkv.value.array
        rotaryInPlace(qkv.value.pointer, 1, l, c, h, inverse: false)
        func dot(_ query: Int, _ key: Int, head: Int) -> Float {
            (0..<hs).reduce(0) { $0 + qkv.value[query * 3 * c + head * hs + $1] * qkv.value[key * 3 * c + c + head * hs + $1] }
        }
        // q.k depends on the distance between positions only, and differs between distances
        for head in 0..<h {
            #expect(abs(dot(3, 1, head: head) - dot(6, 4, head: head)) < 1e-4)
            #expect(abs(dot(2, 2, head: head) - dot(5, 5, head: head)) < 1e-4)
            #expect(abs(dot(3, 1, head: head) - dot(3, 2, head: head)) > 1e-3)
        }
        // position 0 is not turned; v is never turned
        for j in 0..<(2 * c) { #expect(abs(qkv.value[j] - original[j]) < 1e-6) }
        for t in 0..<l { for j in 0..<c { #expect(qkv.value[t * 3 * c + 2 * c + j] == original[t * 3 * c + 2 * c + j]) } }
        // a row decoded alone at its position turns as it does within the sequence
        let single = FloatBuffer(count: 3 * c)
        for j in 0..<(3 * c) { single[j] = original[4 * 3 * c + j] }
        rotaryInPlace(single.pointer, 1, 1, c, h, firstPosition: 4, inverse: false)
        for j in 0..<(3 * c) { #expect(abs(single[j] - qkv.value[4 * 3 * c + j]) < 1e-5) }
        // the inverse turns back
        rotaryInPlace(qkv.value.pointer, 1, l, c, h, inverse: true)
        for (a, b) in zip(qkv.value.array, original) { #expect(abs(a - b) < 1e-5) }
    }

    @Test func gelu() {
        let x = tensor("x", 12, seed: 11, scale: 3)
        let out = FloatBuffer(count: 12)
        let err = check("GELU", [x], out: out, forward: { geluForward(out.pointer, x.value.pointer, 12) },
                        backward: { d in geluBackward(x.grad.pointer, x.value.pointer, d, 12) })
        #expect(err < 1e-2)
    }

    @Test func pooling() {
        let b = 2, grid = 4, k = 2, c = 3
        let x = tensor("x", b * grid * grid * c, seed: 12)
        let out = FloatBuffer(count: b * 4 * c)
        let err = check("average pool", [x], out: out, forward: { poolForward(out.pointer, x.value.pointer, b, grid, k, c) },
                        backward: { d in poolBackward(x.grad.pointer, d, b, grid, k, c) })
        #expect(err < 1e-2)
        // forward value: the first pooled token averages patches (0,0), (0,1), (1,0), (1,1)
        let expected = (x.value[0] + x.value[c] + x.value[grid * c] + x.value[grid * c + c]) / 4
        #expect(abs(out[0] - expected) < 1e-6)
    }

    @Test func decoderEmbedding() {
        let b = 2, vn = 2, t = 3, c = 4, vocab = 5
        let vis = tensor("visual", b * vn * c, seed: 13), wte = tensor("wte", vocab * c, seed: 14)
        let wpe = tensor("wpe", (vn + t) * c, seed: 15)
        let tokens: [Int32] = [1, 4, 1, 0, 2, 3]
        let out = FloatBuffer(count: b * (vn + t) * c)
        let err = tokens.withUnsafeBufferPointer { tk in
            check("decoder embedding", [vis, wte, wpe], out: out, forward: {
                decoderEmbedForward(out.pointer, vis.value.pointer, tk.baseAddress!, wte.value.pointer, wpe.value.pointer, b, vn, t, c)
            }, backward: { d in
                decoderEmbedBackward(vis.grad.pointer, wte.grad.pointer, wpe.grad.pointer, d, tk.baseAddress!, b, vn, t, c)
            })
        }
        #expect(err < 1e-2)
    }

    @Test func outputHead() {
        let b = 2, vn = 1, t = 3, c = 4, v = 6, s = vn + t
        let lnf = tensor("lnf", b * s * c, seed: 16), wte = tensor("wte", v * c, seed: 17)
        let tokens: [Int32] = [5, 0, 2, 3, 3, 1]
        let logp = FloatBuffer(count: b * t), probs = FloatBuffer(count: b * t * v), gathered = FloatBuffer(count: b * t * c)
        let dlogits = FloatBuffer(count: b * t * v), dg = FloatBuffer(count: b * t * c)
        let err = tokens.withUnsafeBufferPointer { tk in
            check("output head log-probs", [lnf, wte], out: logp, forward: {
                headForward(logp.pointer, probs.pointer, gathered.pointer, lnf.value.pointer, tk.baseAddress!, wte.value.pointer, b, vn, t, c, v)
            }, backward: { d in
                headBackward(lnf.grad.pointer, wte.grad.pointer, dlogits.pointer, dg.pointer, d, probs.pointer, gathered.pointer,
                             tk.baseAddress!, wte.value.pointer, b, vn, t, c, v)
            })
        }
        #expect(err < 1e-2)
        // forward value: log-probabilities of a row are log-softmax of its logits
        var row = [Double](repeating: 0, count: v)
        for j in 0..<v { for k in 0..<c { row[j] += Double(lnf.value[k]) * Double(wte.value[j * c + k]) } }
        let lse = log(row.map { exp($0) }.reduce(0, +))
        #expect(abs(Double(logp[0]) - (row[5] - lse)) < 1e-5)
    }

    @Test func patchifyOrder() {
        // 4x4 image, 2x2 patches: patch 1 (top right) starts at pixel (0, 2)
        let img = (0..<(4 * 4 * 3)).map(Float.init)
        let patches = FloatBuffer(count: 4 * 12)
        img.withUnsafeBufferPointer { patchify(patches.pointer, $0.baseAddress!, 1, 4, 2) }
        #expect(patches[12] == img[(0 * 4 + 2) * 3])
        #expect(patches[12 + 6] == img[(1 * 4 + 2) * 3])   // second row of that patch
        #expect(patches[3 * 12 + 11] == img[(3 * 4 + 3) * 3 + 2])
    }
}
