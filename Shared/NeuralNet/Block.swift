// A pre-norm transformer block, forward and backward side by side:
//   res1 = x + proj(attention(norm1(x)));  out = res1 + fcproj(gelu(fc(norm2(res1))))
// Each projection adds its LoRA term when the model has an adapter.
// Legend: B batch, L sequence length, N = B*L rows, C channels, F = mlpRatio*C.

extension PolicyModel {
    @inline(__always) func ptr(_ off: Int) -> UnsafeMutablePointer<Float> { params.pointer + off }
    @inline(__always) func optPtr(_ off: Int) -> UnsafeMutablePointer<Float>? { off < 0 ? nil : params.pointer + off }
    @inline(__always) func gradPtr(_ off: Int) -> UnsafeMutablePointer<Float>? {
        trainsBase && off >= 0 ? grads.pointer + off : nil
    }

    /// out (N, O) = inp @ W^T + b [+ LoRA]. `rng` non-nil applies the adapter's dropout.
    func project(_ out: UnsafeMutablePointer<Float>, _ lcache: LoRABuffers?,
                 _ inp: UnsafePointer<Float>, _ w: Int, _ bias: Int, _ pair: LoRAPair,
                 _ n: Int, _ i: Int, _ o: Int, _ rng: inout SeededGenerator?) {
        linearForward(out, inp, ptr(w), optPtr(bias), n, i, o)
        if let ad = adapter, pair.exists, let lc = lcache {
            loraForward(out, lc.cache, inp, ad.params.pointer + pair.a, ad.params.pointer + pair.b,
                        n, i, o, ad.config.rank, pair.groups, ad.config.scale, ad.config.dropout, &rng)
        }
    }

    /// Accumulates dinp and the gradients of whatever is trainable (base or adapter).
    func projectBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                         _ lcache: LoRABuffers?, _ inp: UnsafePointer<Float>,
                         _ w: Int, _ bias: Int, _ pair: LoRAPair,
                         _ n: Int, _ i: Int, _ o: Int, _ a: Activations, _ dropped: Bool) {
        linearBackward(dinp, gradPtr(w), gradPtr(bias), dout, inp, ptr(w), n, i, o)
        if let ad = adapter, pair.exists, let lc = lcache {
            loraBackward(dinp, ad.grads.pointer + pair.a, ad.grads.pointer + pair.b, a.loraDh.pointer, a.loraDx.pointer,
                         dout, lc.cache, inp, ad.params.pointer + pair.a, ad.params.pointer + pair.b,
                         n, i, o, ad.config.rank, pair.groups, ad.config.scale, dropped)
        }
    }

    func blockForward(_ a: BlockActs, _ x: UnsafePointer<Float>, _ w: BlockView, _ lw: LoRABlockView?,
                      _ b: Int, _ l: Int, _ causal: Bool, _ rng: inout SeededGenerator?, layout: DecoderLayout? = nil) {
        let n = b * l, c = config.channels, f = config.hidden
        let lv = lw ?? LoRABlockView()
        normForward(a.ln1.pointer, a.ln1Mean.pointer, a.ln1Rstd.pointer, x, ptr(w.ln1w), optPtr(w.ln1b), n, c)
        project(a.qkv.pointer, a.lora[0], a.ln1.pointer, w.qkvw, w.qkvb, lv.qkv, n, c, 3 * c, &rng)
        if causal && config.usesRotary {
            rotaryInPlace(a.qkv.pointer, b, l, c, config.heads, positions: layout?.positions, inverse: false)
        }
        attentionForward(a.atty.pointer, a.att.pointer, a.qkv.pointer, b, l, c, config.heads, causal, holes: layout?.holes)
        project(a.res1.pointer, a.lora[1], a.atty.pointer, w.attw, w.attb, lv.att, n, c, c, &rng)
        addInPlace(a.res1.pointer, x, n * c)
        normForward(a.ln2.pointer, a.ln2Mean.pointer, a.ln2Rstd.pointer, a.res1.pointer, ptr(w.ln2w), optPtr(w.ln2b), n, c)
        project(a.fch.pointer, a.lora[2], a.ln2.pointer, w.fcw, w.fcb, lv.fc, n, c, f, &rng)
        geluForward(a.fchg.pointer, a.fch.pointer, n * f)
        project(a.out.pointer, a.lora[3], a.fchg.pointer, w.fcpw, w.fcpb, lv.fcp, n, f, c, &rng)
        addInPlace(a.out.pointer, a.res1.pointer, n * c)
    }

    /// dres holds d(out) on entry and d(x) on return.
    func blockBackward(_ dres: UnsafeMutablePointer<Float>, _ a: BlockActs, _ x: UnsafePointer<Float>,
                       _ w: BlockView, _ lw: LoRABlockView?, _ s: Activations,
                       _ b: Int, _ l: Int, _ causal: Bool, _ dropped: Bool, layout: DecoderLayout? = nil) {
        let n = b * l, c = config.channels, f = config.hidden
        let lv = lw ?? LoRABlockView()
        let isLN = config.norm == .layerNorm
        // MLP
        s.dfcg.pointer.update(repeating: 0, count: n * f)
        projectBackward(s.dfcg.pointer, dres, a.lora[3], a.fchg.pointer, w.fcpw, w.fcpb, lv.fcp, n, f, c, s, dropped)
        s.dfch.pointer.update(repeating: 0, count: n * f)
        geluBackward(s.dfch.pointer, a.fch.pointer, s.dfcg.pointer, n * f)
        s.dln.pointer.update(repeating: 0, count: n * c)
        projectBackward(s.dln.pointer, s.dfch.pointer, a.lora[2], a.ln2.pointer, w.fcw, w.fcb, lv.fc, n, c, f, s, dropped)
        normBackward(dres, gradPtr(w.ln2w), gradPtr(w.ln2b), s.dln.pointer, a.res1.pointer, ptr(w.ln2w),
                     a.ln2Mean.pointer, a.ln2Rstd.pointer, isLN, n, c)
        // attention
        s.datty.pointer.update(repeating: 0, count: n * c)
        projectBackward(s.datty.pointer, dres, a.lora[1], a.atty.pointer, w.attw, w.attb, lv.att, n, c, c, s, dropped)
        s.dqkv.pointer.update(repeating: 0, count: n * 3 * c)
        attentionBackward(s.dqkv.pointer, s.datty.pointer, a.qkv.pointer, a.att.pointer, b, l, c, config.heads, causal,
                          holes: layout?.holes)
        if causal && config.usesRotary {
            rotaryInPlace(s.dqkv.pointer, b, l, c, config.heads, positions: layout?.positions, inverse: true)
        }
        s.dln.pointer.update(repeating: 0, count: n * c)
        projectBackward(s.dln.pointer, s.dqkv.pointer, a.lora[0], a.ln1.pointer, w.qkvw, w.qkvb, lv.qkv, n, c, 3 * c, s, dropped)
        normBackward(dres, gradPtr(w.ln1w), gradPtr(w.ln1b), s.dln.pointer, x, ptr(w.ln1w),
                     a.ln1Mean.pointer, a.ln1Rstd.pointer, isLN, n, c)
    }
}
