import Foundation

/// Policy checkpoints: the base model and a LoRA adapter are separate safetensors files.
/// Metadata carries the model config, the LoRA config and the tokenizer as JSON strings,
/// so a file alone rebuilds its model. Loading is bit-exact.
public enum PolicyCheckpoint {
    public static let baseFormat = "skinr1-policy-base-1"
    public static let adapterFormat = "skinr1-policy-lora-1"

    public struct LoadedBase: Sendable {
        public let model: PolicyModel
        public let tokenizer: BPETokenizer?
        public let metadata: [String: String]
    }

    private static func json<T: Encodable>(_ v: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(v), as: UTF8.self)
    }

    private static func parse<T: Decodable>(_ type: T.Type, _ meta: [String: String], _ key: String, _ source: String) throws -> T {
        guard let s = meta[key] else { throw NeuralNetError("\(source): metadata has no \(key)") }
        do { return try JSONDecoder().decode(T.self, from: Data(s.utf8)) } catch {
            throw NeuralNetError("\(source): metadata \(key) is not valid (\(error))")
        }
    }

    private static func entries(_ layout: ParameterLayout, _ buf: FloatBuffer) -> [SafeTensors.Entry] {
        layout.tensors.map { t in
            SafeTensors.Entry(name: t.name, shape: t.shape,
                              values: Array(UnsafeBufferPointer(start: buf.pointer + t.offset, count: t.count)))
        }
    }

    private static func fill(_ buf: FloatBuffer, _ layout: ParameterLayout, from file: SafeTensors.File) throws {
        let known = Set(layout.tensors.map(\.name))
        if let extra = file.tensorNames.first(where: { !known.contains($0) }) {
            throw NeuralNetError("\(file.source): tensor \(extra) is not part of this model")
        }
        for t in layout.tensors {
            let v = try file.floats(t.name, shape: t.shape)
            v.withUnsafeBufferPointer { (buf.pointer + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
    }

    // MARK: base

    public static func encodeBase(_ model: PolicyModel, tokenizer: BPETokenizer?, metadata: [String: String] = [:]) throws -> Data {
        var meta = metadata
        meta["format"] = baseFormat
        meta["model_config"] = try json(model.config)
        if let tok = tokenizer { meta["tokenizer"] = String(decoding: try tok.jsonData(), as: UTF8.self) }
        return try SafeTensors.encode(entries(model.layout, model.params), metadata: meta)
    }

    public static func decodeBase(_ data: Data, source: String) throws -> LoadedBase {
        let file = try SafeTensors.decode(data, source: source)
        guard file.metadata["format"] == baseFormat else {
            throw NeuralNetError("\(source): not a base policy checkpoint (format \(file.metadata["format"] ?? "missing"))")
        }
        let cfg = try parse(ModelConfig.self, file.metadata, "model_config", source)
        let model = try PolicyModel(config: cfg, seed: 0)
        try fill(model.params, model.layout, from: file)
        var tok: BPETokenizer? = nil
        if let t = file.metadata["tokenizer"] { tok = try BPETokenizer(jsonData: Data(t.utf8), source: "\(source) (tokenizer)") }
        if let tok, tok.vocabSize != cfg.vocabSize {
            throw NeuralNetError("\(source): tokenizer has \(tok.vocabSize) ids but the model vocabulary is \(cfg.vocabSize)")
        }
        return LoadedBase(model: model, tokenizer: tok, metadata: file.metadata)
    }

    /// Writes the base checkpoint, and the tokenizer as JSON beside it
    /// (`<name>.tokenizer.json`) when one is given.
    public static func saveBase(_ model: PolicyModel, tokenizer: BPETokenizer?, to url: URL,
                                metadata: [String: String] = [:]) throws {
        try encodeBase(model, tokenizer: tokenizer, metadata: metadata).write(to: url, options: .atomic)
        if let tok = tokenizer { try tok.save(to: tokenizerURL(besides: url)) }
    }

    public static func tokenizerURL(besides url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("tokenizer.json")
    }

    public static func loadBase(from url: URL) throws -> LoadedBase {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw NeuralNetError("\(url.path): cannot read (\(error))") }
        return try decodeBase(data, source: url.path)
    }

    // MARK: adapter

    public static func encodeAdapter(_ adapter: LoRAAdapter, metadata: [String: String] = [:]) throws -> Data {
        var meta = metadata
        meta["format"] = adapterFormat
        meta["model_config"] = try json(adapter.modelConfig)
        meta["lora_config"] = try json(adapter.config)
        return try SafeTensors.encode(entries(adapter.layout, adapter.params), metadata: meta)
    }

    public static func decodeAdapter(_ data: Data, source: String) throws -> (adapter: LoRAAdapter, metadata: [String: String]) {
        let file = try SafeTensors.decode(data, source: source)
        guard file.metadata["format"] == adapterFormat else {
            throw NeuralNetError("\(source): not a LoRA adapter file (format \(file.metadata["format"] ?? "missing"))")
        }
        let cfg = try parse(ModelConfig.self, file.metadata, "model_config", source)
        let lcfg = try parse(LoRAConfig.self, file.metadata, "lora_config", source)
        let adapter = try LoRAAdapter(modelConfig: cfg, config: lcfg, seed: 0)
        try fill(adapter.params, adapter.layout, from: file)
        return (adapter, file.metadata)
    }

    public static func saveAdapter(_ adapter: LoRAAdapter, to url: URL, metadata: [String: String] = [:]) throws {
        try encodeAdapter(adapter, metadata: metadata).write(to: url, options: .atomic)
    }

    public static func loadAdapter(from url: URL) throws -> (adapter: LoRAAdapter, metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw NeuralNetError("\(url.path): cannot read (\(error))") }
        return try decodeAdapter(data, source: url.path)
    }
}

extension PolicyCheckpoint {
    public static let optimizerFormat = "skinr1-adamw-1"

    /// AdamW moments and step count, so a restarted learner resumes where it stopped.
    public static func encodeOptimizer(_ opt: AdamW, metadata: [String: String] = [:]) throws -> Data {
        var meta = metadata
        meta["format"] = optimizerFormat
        meta["step_count"] = String(opt.stepCount)
        meta["adamw_config"] = String(decoding: try JSONEncoder().encode(opt.config), as: UTF8.self)
        return try SafeTensors.encode([.init(name: "m", shape: [opt.m.count], values: opt.m.array),
                                       .init(name: "v", shape: [opt.v.count], values: opt.v.array)], metadata: meta)
    }

    /// Restores moments saved by `encodeOptimizer` into an optimiser for the same layout.
    public static func restoreOptimizer(_ opt: AdamW, from data: Data, source: String) throws {
        let file = try SafeTensors.decode(data, source: source)
        guard file.metadata["format"] == optimizerFormat else {
            throw NeuralNetError("\(source): not an optimiser state file (format \(file.metadata["format"] ?? "missing"))")
        }
        guard let steps = file.metadata["step_count"].flatMap(Int.init) else {
            throw NeuralNetError("\(source): metadata step_count is missing or not an integer")
        }
        let m = try file.floats("m", shape: [opt.m.count]), v = try file.floats("v", shape: [opt.v.count])
        try opt.restore(m: m, v: v, stepCount: steps)
    }
}
