// Incremental decoding with a key/value cache: each step feeds one token per row and
// attends over the cached keys and values of that row's own prefix, so rows of different
// lengths decode together. Legend: B rows, C channels, H heads, hs head size,
// M positions the cache holds (at most maxSequence).

extension PolicyModel {
    /// Next-token logits (B, V) after each full sequence, recomputing the whole forward.
    /// Rows are right-padded internally; row b's logits come from its own last position.
    public func nextTokenLogits(images: [Float], sequences: [[Int32]]) throws -> [Float] {
        let (a, lengths) = try trunkForSequences(images: images, sequences: sequences)
        return logitsAtLastPositions(a, lengths: lengths, t: lengths.max()!)
    }

    func trunkForSequences(images: [Float], sequences: [[Int32]]) throws -> (Activations, [Int]) {
        try Self.checkPrompts(sequences)
        let b = sequences.count
        let lengths = sequences.map(\.count)
        let t = lengths.max()!
        var tokens = [Int32](repeating: 0, count: b * t)
        for (i, s) in sequences.enumerated() { for (j, tok) in s.enumerated() { tokens[i * t + j] = tok } }
        let batch = PolicyBatch(images: images, tokens: tokens, batchSize: b, length: t)
        return (try forwardTrunk(batch, dropoutSeed: nil), lengths)
    }

    static func checkPrompts(_ sequences: [[Int32]]) throws {
        guard !sequences.isEmpty else { throw NeuralNetError("no sequences given") }
        if let empty = sequences.firstIndex(where: \.isEmpty) {
            throw NeuralNetError("sequence \(empty) is empty: a prompt needs at least one token (e.g. <bos>)")
        }
    }

    func logitsAtLastPositions(_ a: Activations, lengths: [Int], t: Int) -> [Float] {
        let b = lengths.count, c = config.channels, v = config.vocabSize, vn = config.visualTokens, s = vn + t
        let rows = FloatBuffer(count: b * c)
        for i in 0..<b { (rows.pointer + i * c).update(from: a.lnf.pointer + (i * s + vn + lengths[i] - 1) * c, count: c) }
        var logits = [Float](repeating: 0, count: b * v)
        logits.withUnsafeMutableBufferPointer {
            gemm(false, true, b, v, c, 1, rows.pointer, c, ptr(view.wte), c, 0, $0.baseAddress!, v)
        }
        return logits
    }
}

/// A batch of rows being decoded, with their key/value caches.
public final class KVCacheSession {
    public let model: PolicyModel
    public let batchSize: Int
    /// Positions each row's cache holds (visual prefix included).
    public let capacity: Int
    /// Positions filled per row (visual prefix included).
    public private(set) var lengths: [Int]
    /// Next-token logits (B, V) for every row.
    public private(set) var logits: [Float]
    let keys: [FloatBuffer], values: [FloatBuffer]        // per decoder layer (B, M, C)
    // one-token scratch (B rows)
    let x, ln, mean, rstd, qkv, atty, res1, fch, fchg, out: FloatBuffer
    let loraScratch: LoRABuffers?

    /// Encodes the images, runs the prompts through the decoder and fills the caches.
    /// `newTokens` bounds the tokens that will be appended, so the cache holds only the
    /// positions it can need (default: up to maxSequence).
    /// Rows that repeat an earlier row's image and prompt (a group's K answers) share its
    /// prefill: the trunk runs once per distinct row and the caches are copied.
    public init(model: PolicyModel, images: [Float], prompts: [[Int32]], newTokens: Int? = nil) throws {
        let cfg = model.config
        try PolicyModel.checkPrompts(prompts)
        let b = prompts.count, c = cfg.channels, vn = cfg.visualTokens, v = cfg.vocabSize
        let imageFloats = cfg.imageSize * cfg.imageSize * 3
        let (distinct, slot) = distinctRows(images: images, prompts: prompts, imageFloats: imageFloats)
        let (a, distinctLengths) = try model.trunkForSequences(
            images: distinct.count == b ? images : distinct.flatMap { images[($0 * imageFloats)..<(($0 + 1) * imageFloats)] },
            sequences: distinct.map { prompts[$0] })
        let plen = slot.map { distinctLengths[$0] }
        let m = min(cfg.maxSequence, vn + plen.max()! + max(0, newTokens ?? cfg.maxSequence))
        self.model = model
        batchSize = b
        capacity = m
        let t = plen.max()!, s = vn + t
        keys = (0..<cfg.decoderLayers).map { _ in FloatBuffer(count: b * m * c) }
        values = (0..<cfg.decoderLayers).map { _ in FloatBuffer(count: b * m * c) }
        for (li, acts) in a.decoder.enumerated() {
            for bi in 0..<b {
                for p in 0..<(vn + plen[bi]) {
                    let src = acts.qkv.pointer + (slot[bi] * s + p) * 3 * c
                    (keys[li].pointer + (bi * m + p) * c).update(from: src + c, count: c)
                    (values[li].pointer + (bi * m + p) * c).update(from: src + 2 * c, count: c)
                }
            }
        }
        lengths = plen.map { $0 + vn }
        let distinctLogits = model.logitsAtLastPositions(a, lengths: distinctLengths, t: t)
        logits = slot.flatMap { distinctLogits[($0 * v)..<(($0 + 1) * v)] }
        x = FloatBuffer(count: b * c); ln = FloatBuffer(count: b * c)
        mean = FloatBuffer(count: b); rstd = FloatBuffer(count: b)
        qkv = FloatBuffer(count: b * 3 * c); atty = FloatBuffer(count: b * c); res1 = FloatBuffer(count: b * c)
        fch = FloatBuffer(count: b * cfg.hidden); fchg = FloatBuffer(count: b * cfg.hidden)
        out = FloatBuffer(count: b * c)
        loraScratch = model.adapter.map { LoRABuffers(n: b, inDim: 0, groups: 3, rank: $0.config.rank, dropout: false) }
    }

    /// Whether every row still has room for another token.
    public func hasRoom(_ row: Int) -> Bool { lengths[row] < capacity }

    /// Appends one token to every row (rows without room must not be stepped: pass them
    /// in `skip`; their logits stay as they were) and recomputes the logits.
    public func step(_ tokens: [Int32], skip: Set<Int> = []) throws {
        let cfg = model.config, b = batchSize, c = cfg.channels, f = cfg.hidden, m = capacity
        let h = cfg.heads, hs = cfg.headSize, v = cfg.vocabSize
        guard tokens.count == b else { throw NeuralNetError("step: \(tokens.count) tokens for \(b) rows") }
        for (i, tok) in tokens.enumerated() where !skip.contains(i) {
            guard tok >= 0, Int(tok) < v else { throw NeuralNetError("step: token \(tok) of row \(i) outside the vocabulary") }
            guard hasRoom(i) else { throw NeuralNetError("step: row \(i) is full (\(m) positions)") }
        }
        let view = model.view
        for i in 0..<b {
            let pos = min(lengths[i], m - 1), tok = skip.contains(i) ? 0 : Int(tokens[i])
            let e = model.ptr(view.wte) + tok * c, pe = model.ptr(view.wpe) + pos * c
            for j in 0..<c { x[i * c + j] = e[j] + pe[j] }
        }
        var noDropout: SeededGenerator? = nil
        let scale = 1 / Float(hs).squareRoot()
        for (li, w) in view.decoder.enumerated() {
            let lw = model.adapter?.view.decoder[li] ?? LoRABlockView()
            normForward(ln.pointer, mean.pointer, rstd.pointer, x.pointer, model.ptr(w.ln1w), model.optPtr(w.ln1b), b, c)
            model.project(qkv.pointer, loraScratch, ln.pointer, w.qkvw, w.qkvb, lw.qkv, b, c, 3 * c, &noDropout)
            if cfg.usesRotary {
                for i in 0..<b {
                    rotaryInPlace(qkv.pointer + i * 3 * c, 1, 1, c, h, firstPosition: min(lengths[i], m - 1), inverse: false)
                }
            }
            let lens = lengths, kBase = keys[li].pointer, vBase = values[li].pointer
            let q = qkv.pointer, y = atty.pointer
            parallelWithSerialBLAS(b) { rows in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: m)
                defer { scores.deallocate() }
                for i in rows {
                    let pos = min(lens[i], m - 1), n = pos + 1
                    let kc = kBase + i * m * c, vc = vBase + i * m * c
                    (kc + pos * c).update(from: q + i * 3 * c + c, count: c)
                    (vc + pos * c).update(from: q + i * 3 * c + 2 * c, count: c)
                    for hi in 0..<h {
                        // scores (n) = K[0..<n, head] q * scale; y = V[0..<n, head]^T softmax(scores)
                        gemv(false, n, hs, scale, kc + hi * hs, c, q + i * 3 * c + hi * hs, 0, scores)
                        softmaxRow(scores, n, n)
                        gemv(true, n, hs, 1, vc + hi * hs, c, scores, 0, y + i * c + hi * hs)
                    }
                }
            }
            model.project(res1.pointer, loraScratch, atty.pointer, w.attw, w.attb, lw.att, b, c, c, &noDropout)
            for j in 0..<(b * c) { res1[j] += x[j] }
            normForward(ln.pointer, mean.pointer, rstd.pointer, res1.pointer, model.ptr(w.ln2w), model.optPtr(w.ln2b), b, c)
            model.project(fch.pointer, loraScratch, ln.pointer, w.fcw, w.fcb, lw.fc, b, c, f, &noDropout)
            geluForward(fchg.pointer, fch.pointer, b * f)
            model.project(out.pointer, loraScratch, fchg.pointer, w.fcpw, w.fcpb, lw.fcp, b, f, c, &noDropout)
            for j in 0..<(b * c) { x[j] = out[j] + res1[j] }
        }
        normForward(ln.pointer, mean.pointer, rstd.pointer, x.pointer, model.ptr(view.lnfW), model.optPtr(view.lnfB), b, c)
        var fresh = [Float](repeating: 0, count: b * v)
        fresh.withUnsafeMutableBufferPointer {
            gemm(false, true, b, v, c, 1, ln.pointer, c, model.ptr(view.wte), c, 0, $0.baseAddress!, v)
        }
        for i in 0..<b where !skip.contains(i) {
            for j in 0..<v { logits[i * v + j] = fresh[i * v + j] }
            lengths[i] += 1
        }
    }
}
