/// Normalisation used before attention and MLP (pre-norm) and at the end of each stack.
public enum NormKind: String, Codable, Sendable {
    case layerNorm
    case rmsNorm
}

/// Sizes of the policy. Legend used throughout the layer code:
///   B batch, T text tokens, S = V_n + T decoder positions, N_p patches, V_n visual tokens,
///   C channels, H heads, hs = C / H head size, V vocabulary, P patch dimension (p*p*3).
public struct ModelConfig: Codable, Sendable, Equatable {
    public var imageSize: Int       // square images, imageSize x imageSize RGB
    public var patchSize: Int       // p; imageSize must be a multiple of it
    public var poolSize: Int        // visual tokens: average pool of poolSize x poolSize patches (1 = none)
    public var channels: Int        // C, shared by the vision encoder and the decoder
    public var heads: Int           // H
    public var visionLayers: Int    // bidirectional blocks over patches
    public var decoderLayers: Int   // causal blocks over visual prefix + text
    public var mlpRatio: Int        // MLP hidden width = mlpRatio * C
    public var vocabSize: Int       // V, from the tokenizer
    public var maxSequence: Int     // most decoder positions, visual prefix included
    public var norm: NormKind
    /// Rotary positions in the decoder's attention, beside the learned position embeddings
    /// (nil, as in configurations written before it existed, means learned positions only).
    public var rotary: Bool?

    public init(imageSize: Int, patchSize: Int, poolSize: Int, channels: Int, heads: Int,
                visionLayers: Int, decoderLayers: Int, mlpRatio: Int = 4, vocabSize: Int,
                maxSequence: Int, norm: NormKind = .layerNorm, rotary: Bool = false) {
        self.imageSize = imageSize; self.patchSize = patchSize; self.poolSize = poolSize
        self.channels = channels; self.heads = heads; self.visionLayers = visionLayers
        self.decoderLayers = decoderLayers; self.mlpRatio = mlpRatio; self.vocabSize = vocabSize
        self.maxSequence = maxSequence; self.norm = norm; self.rotary = rotary ? true : nil
    }

    /// Whether the decoder's attention turns q and k by their positions (`rotary`).
    public var usesRotary: Bool { rotary ?? false }

    /// The default policy: about 5 M parameters with a 1024-token vocabulary; a learner
    /// step over 16 x 96 positions takes about a quarter of a second on two cores.
    /// Wide and shallow (C=256, 4 decoder layers) rather than narrow and deep: at these
    /// sizes the element-wise work grows with C and the matmuls with C^2, so a wider model
    /// keeps more of the step inside sgemm.
    public static func nano(vocabSize: Int = 1024) -> ModelConfig {
        ModelConfig(imageSize: 32, patchSize: 4, poolSize: 2, channels: 256, heads: 4,
                    visionLayers: 2, decoderLayers: 4, vocabSize: vocabSize, maxSequence: 256)
    }

    /// Nano's shape at half the width (C=128): about 1.3 M parameters. A learner step costs
    /// about a third of nano's, and per step it learns to tell 62 diagnoses apart from the
    /// images almost as well (skinr1 bench vision --channels 128: 0.323 held-out accuracy
    /// after 1,200 steps, nano 0.343), so a fixed time budget buys about three times the steps.
    public static func narrow(vocabSize: Int = 1024) -> ModelConfig {
        var config = nano(vocabSize: vocabSize)
        config.channels = 128
        return config
    }

    /// Narrow with rotary positions in the decoder. Answering with the letter of the option
    /// that names a diagnosis means finding that name among the options, and relative
    /// positions make that lookup quicker to learn (skinr1 bench lookup at lr 1e-3, chance
    /// 0.25: with rotary positions 0.400 after 600 steps in one run, 0.340 after 1,200 in
    /// another, both levelling off near 0.44; learned positions only: 0.260 after 1,500 steps,
    /// 0.390 after 2,400).
    public static func narrowRotary(vocabSize: Int = 1024) -> ModelConfig {
        var config = narrow(vocabSize: vocabSize)
        config.rotary = true
        return config
    }

    /// The model sizes a run can name, smallest first (a variant of one shape after it).
    public static let sizeNames = ["micro", "narrow", "narrow-rotary", "nano"]

    /// The model size called `name` (one of `sizeNames`), sized to a vocabulary.
    public static func named(_ name: String, vocabSize: Int) throws -> ModelConfig {
        switch name {
        case "micro": return .micro(vocabSize: vocabSize)
        case "narrow": return .narrow(vocabSize: vocabSize)
        case "narrow-rotary": return .narrowRotary(vocabSize: vocabSize)
        case "nano": return .nano(vocabSize: vocabSize)
        default: throw NeuralNetError("model size '\(name)' is not one of \(sizeNames.joined(separator: ", "))")
        }
    }

    /// A tiny policy for tests: every code path, a few thousand parameters.
    public static func micro(vocabSize: Int = 300) -> ModelConfig {
        ModelConfig(imageSize: 8, patchSize: 4, poolSize: 1, channels: 16, heads: 2,
                    visionLayers: 1, decoderLayers: 2, vocabSize: vocabSize, maxSequence: 32)
    }

    public var patchesPerSide: Int { imageSize / patchSize }
    public var patchCount: Int { patchesPerSide * patchesPerSide }          // N_p
    public var patchDim: Int { patchSize * patchSize * 3 }                   // P
    public var visualTokens: Int { (patchesPerSide / poolSize) * (patchesPerSide / poolSize) } // V_n
    public var headSize: Int { channels / heads }
    public var hidden: Int { mlpRatio * channels }
    /// Text tokens that fit after the visual prefix.
    public var textCapacity: Int { maxSequence - visualTokens }

    /// Checks the sizes fit together; the error names the first field that does not.
    public func validate() throws {
        func bad(_ s: String) -> NeuralNetError { NeuralNetError("invalid model config: \(s)") }
        guard imageSize > 0, patchSize > 0, imageSize % patchSize == 0 else {
            throw bad("imageSize \(imageSize) must be a positive multiple of patchSize \(patchSize)")
        }
        guard poolSize > 0, patchesPerSide % poolSize == 0 else {
            throw bad("poolSize \(poolSize) must divide patches per side \(patchesPerSide)")
        }
        guard channels > 0, heads > 0, channels % heads == 0 else {
            throw bad("channels \(channels) must be a positive multiple of heads \(heads)")
        }
        guard !usesRotary || (channels / heads) % 2 == 0 else {
            throw bad("rotary positions need an even head size, not \(channels / heads)")
        }
        guard visionLayers >= 0, decoderLayers >= 1, mlpRatio >= 1 else {
            throw bad("need visionLayers >= 0, decoderLayers >= 1, mlpRatio >= 1")
        }
        guard vocabSize > 0 else { throw bad("vocabSize must be positive") }
        guard maxSequence > visualTokens else {
            throw bad("maxSequence \(maxSequence) leaves no room after \(visualTokens) visual tokens")
        }
    }
}

/// Which projections of every transformer block carry a LoRA adapter.
public struct LoRATargets: OptionSet, Codable, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let attention = LoRATargets(rawValue: 1)  // q, k, v and the output projection
    public static let mlp = LoRATargets(rawValue: 2)        // both MLP projections
    public static let all: LoRATargets = [.attention, .mlp]
}

/// LoRA hyper-parameters. Delta W = (alpha / rank) * B A, A: (rank, in), B: (out, rank), B = 0 at init.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targets: LoRATargets
    public var includeVision: Bool   // adapters in the vision blocks too

    public init(rank: Int, alpha: Float, dropout: Float, targets: LoRATargets = .all, includeVision: Bool = true) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout
        self.targets = targets; self.includeVision = includeVision
    }

    /// Nano defaults. The paper uses r=64, alpha=32 on a 7B model whose widths are ~3584;
    /// at C=256 a rank of 8 is already 3% of the width (the paper's 64/3584 is ~2%), and
    /// alpha = 2r keeps the update scale at 2 as is customary for small ranks. Dropout
    /// 0.05 rather than 0.1: a 4 M-parameter model trained for minutes underfits sooner
    /// than it overfits.
    public static let nano = LoRAConfig(rank: 8, alpha: 16, dropout: 0.05)

    public var scale: Float { alpha / Float(rank) }

    public func validate() throws {
        guard rank > 0 else { throw NeuralNetError("invalid LoRA config: rank \(rank) must be positive") }
        guard dropout >= 0, dropout < 1 else {
            throw NeuralNetError("invalid LoRA config: dropout \(dropout) must be in [0, 1)")
        }
        guard !targets.isEmpty else { throw NeuralNetError("invalid LoRA config: no target projections") }
    }
}

/// Errors of the policy library; the message names the file, tensor or field at fault.
public struct NeuralNetError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let file: String
    public let line: Int
    public init(_ message: String, file: String = #fileID, line: Int = #line) {
        self.message = message; self.file = file; self.line = line
    }
    public var description: String { message }
}
