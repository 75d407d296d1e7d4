/// A batch for the policy: B images and B text sequences of T tokens each (right-padded).
public struct PolicyBatch: Sendable {
    public var images: [Float]   // (B, R, R, 3), see `PolicyImage.normalize`
    public var tokens: [Int32]   // (B, T)
    public var batchSize: Int    // B
    public var length: Int       // T
    /// nil: every row is one sequence. Otherwise row b holds a prompt and several answers
    /// (`BranchedRow`), each answer seeing the prompt and itself only.
    public var branches: [BranchedRow]? = nil

    public init(images: [Float], tokens: [Int32], batchSize: Int, length: Int) {
        self.images = images; self.tokens = tokens; self.batchSize = batchSize; self.length = length
    }
}

/// Image input helpers.
public enum PolicyImage {
    /// RGB bytes (H, W, 3) -> floats in [-1, 1], the scale the patch embedding expects.
    public static func normalize(_ rgb: [UInt8]) -> [Float] {
        rgb.map { Float($0) * (2.0 / 255.0) - 1 }
    }

    /// The eight symmetries of a square image: `transform` 0..<8 turns the (side, side, 3)
    /// image by `transform / 2` quarter turns clockwise, then mirrors it left to right when
    /// `transform` is odd. 0 is the image itself. A lesion's colours, outline, border, surface
    /// and size read the same in every one, so they show one exemplar eight ways.
    public static func symmetry(_ transform: Int, of image: [Float], side: Int) -> [Float] {
        precondition((0..<8).contains(transform), "a square has 8 symmetries, not \(transform)")
        precondition(image.count == side * side * 3, "image of \(image.count) floats is not \(side) x \(side) x 3")
        if transform == 0 { return image }
        let turns = transform / 2, mirrored = transform % 2 == 1
        let last = side - 1
        var out = [Float](repeating: 0, count: image.count)
        for y in 0..<side {
            for x in 0..<side {
                // The output pixel (x, y) reads the source pixel that lands there.
                let mx = mirrored ? last - x : x
                let (sx, sy): (Int, Int)
                switch turns {
                case 1: (sx, sy) = (y, last - mx)
                case 2: (sx, sy) = (last - mx, last - y)
                case 3: (sx, sy) = (last - y, mx)
                default: (sx, sy) = (mx, y)
                }
                let o = (y * side + x) * 3, i = (sy * side + sx) * 3
                out[o] = image[i]; out[o + 1] = image[i + 1]; out[o + 2] = image[i + 2]
            }
        }
        return out
    }
}

/// The policy: image patches -> vision encoder (bidirectional blocks) -> pooled visual
/// tokens -> connector -> prefix of a causal decoder over the text -> log-probabilities.
/// Parameters live in one flat buffer (`params`, named by `layout`); `grads` mirrors it.
/// Not thread-safe: one owner drives forward/backward at a time. Every method is
/// synchronous, CPU-bound work (sgemm and parallel loops): call it from a dedicated thread,
/// never from Swift's cooperative pool.
public final class PolicyModel: @unchecked Sendable {
    // @unchecked: mutable numeric state without locks, confined to one thread by its owner
    // (a learner thread, a sampler worker); it may be handed over between threads.
    public let config: ModelConfig
    public let layout: ParameterLayout
    let view: ModelView
    public let params: FloatBuffer
    public let grads: FloatBuffer
    public internal(set) var adapter: LoRAAdapter?
    var acts: Activations?
    /// Shape of the last forward, for the backward.
    var lastB = 0, lastT = 0, lastDropped = false
    /// The slot tables of the last forward when its batch was branched.
    var lastLayout: DecoderLayout?
    /// Whether the most recent pass was a full `forward` (backward needs its probabilities).
    var backwardReady = false

    /// A freshly initialised model: weights N(0, 0.02), residual output projections scaled
    /// by 1/sqrt(2 * layers) (GPT-2), biases 0, norm gains 1.
    public init(config: ModelConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        (view, layout) = ModelView.build(config)
        params = FloatBuffer(count: layout.count)
        grads = FloatBuffer(count: layout.count)
        var rng = SeededGenerator(seed: seed)
        let residualStd = 0.02 / Float(2 * (config.visionLayers + config.decoderLayers)).squareRoot()
        for t in layout.tensors {
            let n = t.name
            if n.hasSuffix(".bias") { continue }
            if n.contains(".ln") && n.hasSuffix(".weight") {
                for i in t.offset..<(t.offset + t.count) { params[i] = 1 }
                continue
            }
            let std = n.hasSuffix("attn.proj.weight") || n.hasSuffix("mlp.proj.weight") ? residualStd : 0.02
            for i in t.offset..<(t.offset + t.count) { params[i] = rng.nextGaussian() * std }
        }
    }

    /// A deep copy of the weights (and of the attached adapter, if any); gradients and
    /// activations start empty. E.g. the GRPO reference: clone, then `mergeAdapter()`.
    public func clone() throws -> PolicyModel {
        let m = try PolicyModel(config: config, seed: 0)
        m.params.copy(from: params)
        if let ad = adapter {
            let copy = try LoRAAdapter(modelConfig: config, config: ad.config, seed: 0)
            copy.params.copy(from: ad.params)
            try m.attach(copy)
        }
        return m
    }

    /// The base is trained unless an adapter is attached; then only the adapter is.
    public var trainsBase: Bool { adapter == nil }
    public var parameterCount: Int { layout.count }

    /// Zeroes the gradients of whatever is trainable.
    public func zeroGrad() {
        if let ad = adapter { ad.grads.zero() } else { grads.zero() }
    }

    func ensureActivations(_ b: Int, _ t: Int) -> Activations {
        if let a = acts, a.capB >= b, a.capT >= t, a.hasLoRA == (adapter != nil) { return a }
        // grow to cover both the old and the new shape, so alternating shapes settle
        let nb = max(b, acts?.capB ?? 0), nt = max(t, acts?.capT ?? 0)
        acts = nil
        let a = Activations(b: nb, t: nt, cfg: config, lora: adapter?.view, loraCfg: adapter?.config)
        acts = a
        return a
    }

    func check(_ batch: PolicyBatch) throws {
        let b = batch.batchSize, t = batch.length, r = config.imageSize
        guard b >= 1, t >= 1 else { throw NeuralNetError("batch needs B >= 1 and T >= 1, got B=\(b) T=\(t)") }
        if let rows = batch.branches {
            // A branched row may be longer than maxSequence; each answer's positions may not.
            guard rows.count == b else { throw NeuralNetError("branched batch: \(rows.count) row shapes for B=\(b)") }
            for (i, row) in rows.enumerated() {
                guard row.promptLength >= 1, row.answerLengths.allSatisfy({ $0 >= 0 }), row.length <= t else {
                    throw NeuralNetError("branched row \(i): prompt \(row.promptLength), answers \(row.answerLengths) do not fit T=\(t)")
                }
                guard config.visualTokens + row.longestAlone <= config.maxSequence else {
                    throw NeuralNetError("branched row \(i): prompt and answer of \(row.longestAlone) text tokens + \(config.visualTokens) visual tokens exceed maxSequence \(config.maxSequence)")
                }
            }
        } else {
            guard config.visualTokens + t <= config.maxSequence else {
                throw NeuralNetError("sequence of \(t) text tokens + \(config.visualTokens) visual tokens exceeds maxSequence \(config.maxSequence)")
            }
        }
        guard batch.images.count == b * r * r * 3 else {
            throw NeuralNetError("images: expected \(b * r * r * 3) floats (B=\(b) x \(r)x\(r)x3), got \(batch.images.count)")
        }
        guard batch.tokens.count == b * t else {
            throw NeuralNetError("tokens: expected \(b * t) (B=\(b) x T=\(t)), got \(batch.tokens.count)")
        }
        if let bad = batch.tokens.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw NeuralNetError("tokens[\(bad)] = \(batch.tokens[bad]) is outside the vocabulary of \(config.vocabSize)")
        }
    }

    /// Everything up to the final norm of the decoder: fills `acts.lnf` (B*S, C).
    func forwardTrunk(_ batch: PolicyBatch, dropoutSeed: UInt64?) throws -> Activations {
        try check(batch)
        let b = batch.batchSize, t = batch.length
        let a = ensureActivations(b, t)
        let c = config.channels, np = config.patchCount, vn = config.visualTokens, s = vn + t
        var rng: SeededGenerator? = nil
        if let seed = dropoutSeed, let ad = adapter, ad.config.dropout > 0 { rng = SeededGenerator(seed: seed) }
        lastB = b; lastT = t; lastDropped = rng != nil
        let layout = batch.branches.map { DecoderLayout(rows: $0, vn: vn, t: t) }
        lastLayout = layout
        backwardReady = false
        batch.tokens.withUnsafeBufferPointer { a.tokens.update(from: $0.baseAddress!, count: b * t) }
        // vision encoder
        batch.images.withUnsafeBufferPointer {
            patchify(a.patches.pointer, $0.baseAddress!, b, config.imageSize, config.patchSize)
        }
        linearForward(a.vx0.pointer, a.patches.pointer, ptr(view.patchW), ptr(view.patchB), b * np, config.patchDim, c)
        addPositions(a.vx0.pointer, ptr(view.visionPos), b, np, c)
        var x = UnsafePointer(a.vx0.pointer)
        for (i, bv) in view.vision.enumerated() {
            blockForward(a.vision[i], x, bv, adapter?.view.vision[i], b, np, false, &rng)
            x = UnsafePointer(a.vision[i].out.pointer)
        }
        normForward(a.vlnf.pointer, a.vMean.pointer, a.vRstd.pointer, x, ptr(view.vlnfW), optPtr(view.vlnfB), b * np, c)
        let pooled = config.poolSize > 1 ? a.pooled.pointer : a.vlnf.pointer
        if config.poolSize > 1 {
            poolForward(a.pooled.pointer, a.vlnf.pointer, b, config.patchesPerSide, config.poolSize, c)
        }
        linearForward(a.conn.pointer, pooled, ptr(view.connW), ptr(view.connB), b * vn, c, c)
        // decoder
        decoderEmbedForward(a.x0.pointer, a.conn.pointer, a.tokens, ptr(view.wte), ptr(view.wpe), b, vn, t, c,
                            positions: layout?.positions)
        x = UnsafePointer(a.x0.pointer)
        for (i, bv) in view.decoder.enumerated() {
            blockForward(a.decoder[i], x, bv, adapter?.view.decoder[i], b, s, true, &rng, layout: layout)
            x = UnsafePointer(a.decoder[i].out.pointer)
        }
        normForward(a.lnf.pointer, a.lnfMean.pointer, a.lnfRstd.pointer, x, ptr(view.lnfW), optPtr(view.lnfB), b * s, c)
        return a
    }

    /// Per-token log-probabilities (B*T, row-major): entry (b, t) is log pi(tokens[b, t] |
    /// image b, tokens[b, <t]). Entry (b, 0) is predicted from the image alone.
    /// Keeps what `backward` needs. `dropoutSeed` (training only) turns on LoRA dropout.
    public func forward(_ batch: PolicyBatch, dropoutSeed: UInt64? = nil) throws -> [Float] {
        let a = try forwardTrunk(batch, dropoutSeed: dropoutSeed)
        let b = batch.batchSize, t = batch.length
        headForward(a.logp.pointer, a.probs.pointer, a.gathered.pointer, a.lnf.pointer, a.tokens, ptr(view.wte),
                    b, config.visualTokens, t, config.channels, config.vocabSize, sources: lastLayout?.sources)
        backwardReady = true
        return Array(UnsafeBufferPointer(start: a.logp.pointer, count: b * t))
    }

    /// Per-token log-probabilities without dropout: the policy's own log pi (GRPO's
    /// log pi_theta, the reference's log pi_ref).
    public func logProbs(_ batch: PolicyBatch) throws -> [Float] {
        try forward(batch, dropoutSeed: nil)
    }

    /// Backward of the last `forward`. dLogProbs (B*T) holds dLoss/d log pi(token) for each
    /// token (0 for tokens that do not count). Accumulates into the gradients of whatever
    /// is trainable: `grads` (base) or `adapter.grads`.
    public func backward(dLogProbs: [Float]) throws {
        guard let a = acts, lastB > 0, backwardReady else {
            throw NeuralNetError("backward needs a preceding forward (generation and next-token logits in between overwrite its state)")
        }
        let b = lastB, t = lastT
        guard dLogProbs.count == b * t else {
            throw NeuralNetError("dLogProbs: expected \(b * t) values (B=\(b) x T=\(t)), got \(dLogProbs.count)")
        }
        let c = config.channels, np = config.patchCount, vn = config.visualTokens, s = vn + t
        let isLN = config.norm == .layerNorm
        let dropped = lastDropped
        // head and final norm
        a.dlnf.pointer.update(repeating: 0, count: b * s * c)
        dLogProbs.withUnsafeBufferPointer { dl in
            headBackward(a.dlnf.pointer, gradPtr(view.wte), a.dlogits.pointer, a.dgathered.pointer,
                         dl.baseAddress!, a.probs.pointer, a.gathered.pointer, a.tokens, ptr(view.wte),
                         b, vn, t, c, config.vocabSize, sources: lastLayout?.sources)
        }
        a.dres.pointer.update(repeating: 0, count: b * s * c)
        let lastOut = view.decoder.isEmpty ? a.x0.pointer : a.decoder[view.decoder.count - 1].out.pointer
        normBackward(a.dres.pointer, gradPtr(view.lnfW), gradPtr(view.lnfB), a.dlnf.pointer, lastOut, ptr(view.lnfW),
                     a.lnfMean.pointer, a.lnfRstd.pointer, isLN, b * s, c)
        // decoder blocks
        for i in stride(from: view.decoder.count - 1, through: 0, by: -1) {
            let x = i == 0 ? a.x0.pointer : a.decoder[i - 1].out.pointer
            blockBackward(a.dres.pointer, a.decoder[i], x, view.decoder[i], adapter?.view.decoder[i], a, b, s, true, dropped,
                          layout: lastLayout)
        }
        a.dconn.pointer.update(repeating: 0, count: b * vn * c)
        decoderEmbedBackward(a.dconn.pointer, gradPtr(view.wte), gradPtr(view.wpe), a.dres.pointer, a.tokens, b, vn, t, c,
                             positions: lastLayout?.positions)
        // vision: only needed when something in it is trainable
        let visionAdapted = adapter.map { $0.config.includeVision && config.visionLayers > 0 } ?? false
        guard trainsBase || visionAdapted else { return }
        let pooled = config.poolSize > 1 ? a.pooled.pointer : a.vlnf.pointer
        a.dpooled.pointer.update(repeating: 0, count: b * vn * c)
        linearBackward(a.dpooled.pointer, gradPtr(view.connW), gradPtr(view.connB), a.dconn.pointer, pooled,
                       ptr(view.connW), b * vn, c, c)
        var dvlnf = a.dpooled.pointer
        if config.poolSize > 1 {
            a.dvlnf.pointer.update(repeating: 0, count: b * np * c)
            poolBackward(a.dvlnf.pointer, a.dpooled.pointer, b, config.patchesPerSide, config.poolSize, c)
            dvlnf = a.dvlnf.pointer
        }
        a.dvres.pointer.update(repeating: 0, count: b * np * c)
        let vOut = view.vision.isEmpty ? a.vx0.pointer : a.vision[view.vision.count - 1].out.pointer
        normBackward(a.dvres.pointer, gradPtr(view.vlnfW), gradPtr(view.vlnfB), dvlnf, vOut, ptr(view.vlnfW),
                     a.vMean.pointer, a.vRstd.pointer, isLN, b * np, c)
        for i in stride(from: view.vision.count - 1, through: 0, by: -1) {
            let x = i == 0 ? a.vx0.pointer : a.vision[i - 1].out.pointer
            blockBackward(a.dvres.pointer, a.vision[i], x, view.vision[i], adapter?.view.vision[i], a, b, np, false, dropped)
        }
        if trainsBase {
            addPositionsBackward(grads.pointer + view.visionPos, a.dvres.pointer, b, np, c)
            linearBackward(nil, gradPtr(view.patchW), gradPtr(view.patchB), a.dvres.pointer, a.patches.pointer,
                           ptr(view.patchW), b * np, config.patchDim, c)
        }
    }
}
