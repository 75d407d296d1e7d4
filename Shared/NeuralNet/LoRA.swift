/// A LoRA adapter: its own flat parameter buffer (A and B of every targeted projection),
/// gradients mirroring it. Trainable alone while the base stays frozen; exported on its
/// own (weight sync ships only this); merged into the base to make the reference policy.
public final class LoRAAdapter: @unchecked Sendable {
    // @unchecked: plain buffers without locks; one trainer or sampler owns it at a time.
    public let config: LoRAConfig
    public let modelConfig: ModelConfig
    public let layout: ParameterLayout
    let view: LoRAView
    public let params: FloatBuffer
    public let grads: FloatBuffer

    /// A fresh adapter: A ~ N(0, 1/in), B = 0, so the adapted model starts equal to the base.
    public init(modelConfig: ModelConfig, config: LoRAConfig, seed: UInt64) throws {
        try modelConfig.validate()
        try config.validate()
        self.config = config
        self.modelConfig = modelConfig
        (view, layout) = LoRAView.build(modelConfig, config)
        params = FloatBuffer(count: layout.count)
        grads = FloatBuffer(count: layout.count)
        var rng = SeededGenerator(seed: seed)
        for t in layout.tensors where t.name.hasSuffix(".lora_a") {
            let std = 1 / Float(t.shape[1]).squareRoot()
            for i in t.offset..<(t.offset + t.count) { params[i] = rng.nextGaussian() * std }
        }
    }

    public var parameterCount: Int { layout.count }
}

extension PolicyModel {
    /// Attaches an adapter; from now on forward adds it and backward trains it (base frozen).
    public func attach(_ adapter: LoRAAdapter) throws {
        guard adapter.modelConfig == config else {
            throw NeuralNetError("LoRA adapter was made for a different model config")
        }
        self.adapter = adapter
        acts = nil
    }

    /// Removes the adapter without changing the base weights.
    public func detachAdapter() {
        adapter = nil
        acts = nil
    }

    /// W += (alpha/r) * B A for every adapted projection, then detaches the adapter.
    /// The merged SFT model is the GRPO reference policy.
    public func mergeAdapter() {
        guard let ad = adapter else { return }
        let scale = ad.config.scale, r = ad.config.rank, c = config.channels, f = config.hidden
        let p = params.pointer, lp = ad.params.pointer
        func merge(_ pair: LoRAPair, _ w: Int, _ inDim: Int, _ outDim: Int) {
            guard pair.exists else { return }
            let og = outDim / pair.groups
            for k in 0..<pair.groups {
                // W[k*og.., :] (og, in) += scale * B[k*og.., :] (og, r) @ A[k*r.., :] (r, in)
                gemm(false, false, og, inDim, r, scale, lp + pair.b + k * og * r, r,
                     lp + pair.a + k * r * inDim, inDim, 1, p + w + k * og * inDim, inDim)
            }
        }
        for (blocks, lblocks) in [(view.vision, ad.view.vision), (view.decoder, ad.view.decoder)] {
            for (bv, lv) in zip(blocks, lblocks) {
                merge(lv.qkv, bv.qkvw, c, 3 * c)
                merge(lv.att, bv.attw, c, c)
                merge(lv.fc, bv.fcw, c, f)
                merge(lv.fcp, bv.fcpw, f, c)
            }
        }
        detachAdapter()
    }
}
