/// One named tensor inside a flat parameter buffer.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Weight decay applies to matrices (rank >= 2) only, never to biases and norm gains.
    public var isMatrix: Bool { shape.count >= 2 }
}

/// The table of contents of a flat buffer: names, shapes and offsets, in storage order.
/// Gradients and optimiser moments use the same layout, so one offset serves all.
public struct ParameterLayout: Sendable {
    public private(set) var tensors: [TensorSpec] = []
    public private(set) var count = 0
    private var index: [String: Int] = [:]

    public init() {}

    /// Appends a tensor and returns its offset.
    @discardableResult
    mutating func add(_ name: String, _ shape: [Int]) -> Int {
        precondition(index[name] == nil, "duplicate tensor name \(name)")
        let spec = TensorSpec(name: name, shape: shape, offset: count)
        index[name] = tensors.count
        tensors.append(spec)
        count += spec.count
        return spec.offset
    }

    public func spec(_ name: String) -> TensorSpec? { index[name].map { tensors[$0] } }
}

/// Offsets of one transformer block's tensors. Shapes (C channels, F = mlpRatio*C):
struct BlockView {
    var ln1w = 0, ln1b = -1      // (C), (C) ; bias -1 under RMSNorm
    var qkvw = 0, qkvb = 0       // (3C, C), (3C)   rows: q | k | v
    var attw = 0, attb = 0       // (C, C), (C)
    var ln2w = 0, ln2b = -1      // (C), (C)
    var fcw = 0, fcb = 0         // (F, C), (F)
    var fcpw = 0, fcpb = 0       // (C, F), (C)

    init(_ l: inout ParameterLayout, _ prefix: String, _ c: Int, _ f: Int, _ norm: NormKind) {
        ln1w = l.add("\(prefix).ln1.weight", [c])
        if norm == .layerNorm { ln1b = l.add("\(prefix).ln1.bias", [c]) }
        qkvw = l.add("\(prefix).attn.qkv.weight", [3 * c, c])
        qkvb = l.add("\(prefix).attn.qkv.bias", [3 * c])
        attw = l.add("\(prefix).attn.proj.weight", [c, c])
        attb = l.add("\(prefix).attn.proj.bias", [c])
        ln2w = l.add("\(prefix).ln2.weight", [c])
        if norm == .layerNorm { ln2b = l.add("\(prefix).ln2.bias", [c]) }
        fcw = l.add("\(prefix).mlp.fc.weight", [f, c])
        fcb = l.add("\(prefix).mlp.fc.bias", [f])
        fcpw = l.add("\(prefix).mlp.proj.weight", [c, f])
        fcpb = l.add("\(prefix).mlp.proj.bias", [c])
    }
}

extension ParameterLayout {
    /// Name prefixes of the policy's tensors that read the image: the vision blocks and the
    /// connector into the decoder (the names `ModelView` gives them).
    public static let imageTensorPrefixes = ["vision.", "connector."]
}

/// Offsets of every tensor of the policy, in the order they are stored.
struct ModelView {
    var patchW = 0, patchB = 0   // (C, P), (C)
    var visionPos = 0            // (N_p, C)
    var vision: [BlockView] = []
    var vlnfW = 0, vlnfB = -1    // (C), (C)
    var connW = 0, connB = 0     // (C, C), (C)  visual tokens -> decoder space
    var wte = 0                  // (V, C)  token embedding, tied with the output head
    var wpe = 0                  // (maxSequence, C)
    var decoder: [BlockView] = []
    var lnfW = 0, lnfB = -1      // (C), (C)

    static func build(_ cfg: ModelConfig) -> (ModelView, ParameterLayout) {
        var l = ParameterLayout()
        var v = ModelView()
        let c = cfg.channels, f = cfg.hidden
        v.patchW = l.add("vision.patch.weight", [c, cfg.patchDim])
        v.patchB = l.add("vision.patch.bias", [c])
        v.visionPos = l.add("vision.pos", [cfg.patchCount, c])
        for i in 0..<cfg.visionLayers { v.vision.append(BlockView(&l, "vision.blocks.\(i)", c, f, cfg.norm)) }
        v.vlnfW = l.add("vision.lnf.weight", [c])
        if cfg.norm == .layerNorm { v.vlnfB = l.add("vision.lnf.bias", [c]) }
        v.connW = l.add("connector.weight", [c, c])
        v.connB = l.add("connector.bias", [c])
        v.wte = l.add("decoder.wte", [cfg.vocabSize, c])
        v.wpe = l.add("decoder.wpe", [cfg.maxSequence, c])
        for i in 0..<cfg.decoderLayers { v.decoder.append(BlockView(&l, "decoder.blocks.\(i)", c, f, cfg.norm)) }
        v.lnfW = l.add("decoder.lnf.weight", [c])
        if cfg.norm == .layerNorm { v.lnfB = l.add("decoder.lnf.bias", [c]) }
        return (v, l)
    }
}

/// Offsets of one LoRA pair (A: (groups*r, in), B: (out, r)); -1 when the projection has none.
struct LoRAPair {
    var a = -1, b = -1
    var groups = 1
    var exists: Bool { a >= 0 }
}

/// LoRA pairs of one block: the fused qkv carries three independent pairs (q, k, v).
struct LoRABlockView {
    var qkv = LoRAPair(), att = LoRAPair(), fc = LoRAPair(), fcp = LoRAPair()
}

struct LoRAView {
    var vision: [LoRABlockView] = []
    var decoder: [LoRABlockView] = []

    static func build(_ model: ModelConfig, _ lora: LoRAConfig) -> (LoRAView, ParameterLayout) {
        var l = ParameterLayout()
        var v = LoRAView()
        let c = model.channels, f = model.hidden, r = lora.rank
        func pair(_ name: String, _ inDim: Int, _ outDim: Int, _ groups: Int) -> LoRAPair {
            LoRAPair(a: l.add("\(name).lora_a", [groups * r, inDim]),
                     b: l.add("\(name).lora_b", [outDim, r]), groups: groups)
        }
        func block(_ p: String) -> LoRABlockView {
            var b = LoRABlockView()
            if lora.targets.contains(.attention) {
                b.qkv = pair("\(p).attn.qkv", c, 3 * c, 3)
                b.att = pair("\(p).attn.proj", c, c, 1)
            }
            if lora.targets.contains(.mlp) {
                b.fc = pair("\(p).mlp.fc", c, f, 1)
                b.fcp = pair("\(p).mlp.proj", f, c, 1)
            }
            return b
        }
        for i in 0..<model.visionLayers {
            v.vision.append(lora.includeVision ? block("vision.blocks.\(i)") : LoRABlockView())
        }
        for i in 0..<model.decoderLayers { v.decoder.append(block("decoder.blocks.\(i)")) }
        return (v, l)
    }
}
