import Foundation
import Testing
@testable import NeuralNet

@Suite struct CheckpointTests {
    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nn-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func saveLoadIsBitExact() throws {
        let tok = try BPETokenizer.train(corpus: ["the lesion is benign", "the lesion is malignant"], vocabSize: 280)
        var cfg = ModelConfig.micro(vocabSize: tok.vocabSize)
        cfg.norm = .rmsNorm
        let model = try PolicyModel(config: cfg, seed: 41)
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("base.safetensors")
        try PolicyCheckpoint.saveBase(model, tokenizer: tok, to: url, metadata: ["step": "12"])
        let loaded = try PolicyCheckpoint.loadBase(from: url)
        #expect(loaded.model.config == cfg)
        #expect(loaded.tokenizer == tok)
        #expect(loaded.metadata["step"] == "12")
        #expect(try BPETokenizer.load(from: PolicyCheckpoint.tokenizerURL(besides: url)) == tok)
        #expect(loaded.model.params.array.map(\.bitPattern) == model.params.array.map(\.bitPattern))
        let batch = randomBatch(cfg, b: 2, t: 5, seed: 42)
        #expect(try loaded.model.logProbs(batch) == model.logProbs(batch))
        // the file is a standard safetensors container
        let data = try Data(contentsOf: url)
        let n = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: data[8..<(8 + n)]) as! [String: Any]
        let wte = header["decoder.wte"] as! [String: Any]
        #expect(wte["dtype"] as? String == "F32")
        #expect(wte["shape"] as? [Int] == [tok.vocabSize, cfg.channels])
        #expect((8 + n) % 8 == 0)
    }

    func expectError(_ data: Data, mentions words: [String]) {
        do {
            _ = try PolicyCheckpoint.decodeBase(data, source: "ckpt/base-3.safetensors")
            Issue.record("corrupt checkpoint loaded without error")
        } catch {
            let text = "\(error)"
            print("[checkpoint error] \(text)")
            for w in words { #expect(text.contains(w), "error should mention \(w): \(text)") }
        }
    }

    @Test func corruptAndMismatchedFilesGiveClearErrors() throws {
        let cfg = ModelConfig.micro(vocabSize: 40)
        let model = try PolicyModel(config: cfg, seed: 43)
        let good = try PolicyCheckpoint.encodeBase(model, tokenizer: nil)
        // truncated
        expectError(good.prefix(good.count - 100), mentions: ["ckpt/base-3.safetensors"])
        expectError(good.prefix(5), mentions: ["ckpt/base-3.safetensors", "too short"])
        // a flipped byte in the last tensor's data
        var flipped = good
        flipped[flipped.count - 3] ^= 0x40
        expectError(flipped, mentions: ["ckpt/base-3.safetensors", "decoder.lnf.bias", "corrupt"])
        // garbage header
        var garbage = good
        garbage[10] = 0x00
        expectError(garbage, mentions: ["header"])
        // a tensor of the wrong shape: a file from a wider model
        var wider = cfg
        wider.channels = 32
        let other = try PolicyCheckpoint.encodeBase(try PolicyModel(config: wider, seed: 1), tokenizer: nil)
        let otherFile = try SafeTensors.decode(other, source: "wider")
        var meta = otherFile.metadata
        meta["model_config"] = String(decoding: try JSONEncoder().encode(cfg), as: UTF8.self)
        meta["checksums"] = nil
        var entries: [SafeTensors.Entry] = []
        for name in otherFile.tensorNames {
            let shape = otherFile.shapes[name]!
            entries.append(.init(name: name, shape: shape, values: try otherFile.floats(name, shape: shape)))
        }
        expectError(try SafeTensors.encode(entries, metadata: meta), mentions: ["shape", "expects"])
        // an adapter is not a base
        let ad = try LoRAAdapter(modelConfig: cfg, config: .nano, seed: 1)
        expectError(try PolicyCheckpoint.encodeAdapter(ad), mentions: ["not a base policy checkpoint"])
    }

    @Test func missingFileNamesThePath() {
        #expect(throws: NeuralNetError.self) { try PolicyCheckpoint.loadBase(from: URL(fileURLWithPath: "/nonexistent/x.safetensors")) }
    }
}
