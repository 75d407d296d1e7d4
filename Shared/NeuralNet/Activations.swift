/// LoRA forward caches of one projection.
final class LoRABuffers {
    let h: FloatBuffer
    let xdrop: FloatBuffer?
    let mask: FloatBuffer?
    init(n: Int, inDim: Int, groups: Int, rank: Int, dropout: Bool) {
        h = FloatBuffer(count: n * groups * rank)
        xdrop = dropout ? FloatBuffer(count: n * inDim) : nil
        mask = dropout ? FloatBuffer(count: n * inDim) : nil
    }
    var cache: LoRACache { LoRACache(h: h.pointer, xdrop: xdrop?.pointer, mask: mask?.pointer) }
}

/// What one block's forward keeps for its backward. N = B*L rows.
final class BlockActs {
    let ln1, ln1Mean, ln1Rstd: FloatBuffer   // (N, C), (N), (N)
    let qkv: FloatBuffer                      // (N, 3C)
    let att: FloatBuffer                      // (B, H, L, L) probabilities
    let atty: FloatBuffer                     // (N, C) attention output before projection
    let res1: FloatBuffer                     // (N, C) residual after attention
    let ln2, ln2Mean, ln2Rstd: FloatBuffer   // (N, C), (N), (N)
    let fch, fchg: FloatBuffer                // (N, F) before and after GELU
    let out: FloatBuffer                      // (N, C) block output
    let lora: [LoRABuffers?]                  // qkv, attention proj, fc, mlp proj

    init(b: Int, l: Int, cfg: ModelConfig, lora lv: LoRABlockView?, loraCfg: LoRAConfig?) {
        let n = b * l, c = cfg.channels, f = cfg.hidden
        ln1 = FloatBuffer(count: n * c); ln1Mean = FloatBuffer(count: n); ln1Rstd = FloatBuffer(count: n)
        qkv = FloatBuffer(count: n * 3 * c)
        att = FloatBuffer(count: b * cfg.heads * l * l)
        atty = FloatBuffer(count: n * c); res1 = FloatBuffer(count: n * c)
        ln2 = FloatBuffer(count: n * c); ln2Mean = FloatBuffer(count: n); ln2Rstd = FloatBuffer(count: n)
        fch = FloatBuffer(count: n * f); fchg = FloatBuffer(count: n * f)
        out = FloatBuffer(count: n * c)
        if let lv, let lc = loraCfg {
            let drop = lc.dropout > 0
            func make(_ p: LoRAPair, _ inDim: Int) -> LoRABuffers? {
                p.exists ? LoRABuffers(n: n, inDim: inDim, groups: p.groups, rank: lc.rank, dropout: drop) : nil
            }
            lora = [make(lv.qkv, c), make(lv.att, c), make(lv.fc, c), make(lv.fcp, f)]
        } else {
            lora = [nil, nil, nil, nil]
        }
    }
}

/// All activations and backward scratch of the policy for batches up to (B, T).
/// Smaller batches reuse the same buffers (all strides are recomputed from the actual sizes).
final class Activations {
    let capB: Int, capT: Int, hasLoRA: Bool
    // vision, N_v = B*N_p rows
    let patches: FloatBuffer      // (B, N_p, P)
    let vx0: FloatBuffer          // (B, N_p, C) patch embedding + positions
    let vision: [BlockActs]
    let vlnf, vMean, vRstd: FloatBuffer
    let pooled: FloatBuffer       // (B, V_n, C)
    let conn: FloatBuffer         // (B, V_n, C) visual tokens in decoder space
    // decoder, B*S rows
    let tokens: UnsafeMutablePointer<Int32>   // (B, T)
    let x0: FloatBuffer           // (B, S, C)
    let decoder: [BlockActs]
    let lnf, lnfMean, lnfRstd: FloatBuffer
    let gathered: FloatBuffer     // (B*T, C)
    let probs: FloatBuffer        // (B*T, V)
    let logp: FloatBuffer         // (B*T)
    // backward scratch, shared by all blocks
    let dres, dvres: FloatBuffer  // (B*S, C), (B*N_p, C)
    let dln, datty: FloatBuffer   // (rows, C)
    let dqkv: FloatBuffer         // (rows, 3C)
    let dfch, dfcg: FloatBuffer   // (rows, F)
    let loraDh, loraDx: FloatBuffer
    let dlogits, dgathered, dlnf: FloatBuffer
    let dconn, dpooled, dvlnf: FloatBuffer

    init(b: Int, t: Int, cfg: ModelConfig, lora: LoRAView?, loraCfg: LoRAConfig?) {
        capB = b; capT = t; hasLoRA = lora != nil
        let c = cfg.channels, np = cfg.patchCount, vn = cfg.visualTokens, s = vn + t, f = cfg.hidden
        patches = FloatBuffer(count: b * np * cfg.patchDim)
        vx0 = FloatBuffer(count: b * np * c)
        vision = (0..<cfg.visionLayers).map { BlockActs(b: b, l: np, cfg: cfg, lora: lora?.vision[$0], loraCfg: loraCfg) }
        vlnf = FloatBuffer(count: b * np * c); vMean = FloatBuffer(count: b * np); vRstd = FloatBuffer(count: b * np)
        pooled = FloatBuffer(count: b * vn * c)
        conn = FloatBuffer(count: b * vn * c)
        tokens = .allocate(capacity: b * t)
        tokens.initialize(repeating: 0, count: b * t)
        x0 = FloatBuffer(count: b * s * c)
        decoder = (0..<cfg.decoderLayers).map { BlockActs(b: b, l: s, cfg: cfg, lora: lora?.decoder[$0], loraCfg: loraCfg) }
        lnf = FloatBuffer(count: b * s * c); lnfMean = FloatBuffer(count: b * s); lnfRstd = FloatBuffer(count: b * s)
        gathered = FloatBuffer(count: b * t * c)
        probs = FloatBuffer(count: b * t * cfg.vocabSize)
        logp = FloatBuffer(count: b * t)
        let rows = max(b * s, b * np)
        dres = FloatBuffer(count: b * s * c); dvres = FloatBuffer(count: b * np * c)
        dln = FloatBuffer(count: rows * c); datty = FloatBuffer(count: rows * c)
        dqkv = FloatBuffer(count: rows * 3 * c)
        dfch = FloatBuffer(count: rows * f); dfcg = FloatBuffer(count: rows * f)
        let r = loraCfg?.rank ?? 0
        loraDh = FloatBuffer(count: lora == nil ? 0 : rows * 3 * r)
        loraDx = FloatBuffer(count: lora == nil || (loraCfg?.dropout ?? 0) == 0 ? 0 : rows * f)
        dlogits = FloatBuffer(count: b * t * cfg.vocabSize)
        dgathered = FloatBuffer(count: b * t * c)
        dlnf = FloatBuffer(count: b * s * c)
        dconn = FloatBuffer(count: b * vn * c); dpooled = FloatBuffer(count: b * vn * c)
        dvlnf = FloatBuffer(count: b * np * c)
    }

    deinit { tokens.deallocate() }
}
