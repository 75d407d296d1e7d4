import Foundation

/// Byte-level BPE. Ids: special tokens first (0..<n, so <pad> = 0 whatever the vocabulary),
/// then the 256 bytes, then one id per learned merge, then one id per whole phrase. Any
/// UTF-8 string round-trips, since every byte has an id; special-token strings in the text
/// become their single id, and so does a phrase written as a word of its own (after a
/// space, not followed by a letter or digit), space included.
public struct BPETokenizer: Sendable, Equatable {
    public static let defaultSpecialTokens = [
        "<pad>", "<bos>", "<eos>", "<image>",
        "<thinking>", "</thinking>", "<diagnosis>", "</diagnosis>",
        "<final diagnosis>", "</final diagnosis>",
    ]

    public let specialTokens: [String]
    /// merges[i] = (left, right) creates id specialTokens.count + 256 + i.
    public let merges: [Merge]
    /// Multi-word terms kept whole (the taxonomy's names): " " + phrase is one token, so the
    /// policy reads and writes a diagnosis as one symbol instead of a run of word pieces.
    public let phrases: [String]

    public struct Merge: Codable, Sendable, Equatable {
        public let left: Int32
        public let right: Int32
    }

    private let ranks: [UInt64: Int32]     // pair key -> id it merges into (lower id = earlier merge)
    private let tokenBytes: [[UInt8]]      // id -> bytes it decodes to
    private let specialBytes: [(id: Int32, bytes: [UInt8])]  // longest first
    private let phraseBytes: [UInt8: [(id: Int32, bytes: [UInt8])]]  // first byte -> phrases, longest first

    public var vocabSize: Int { specialTokens.count + 256 + merges.count + phrases.count }
    public func id(of special: String) -> Int32? { specialTokens.firstIndex(of: special).map(Int32.init) }
    public var pad: Int32 { id(of: "<pad>") ?? 0 }
    public var bos: Int32? { id(of: "<bos>") }
    public var eos: Int32? { id(of: "<eos>") }

    public init(specialTokens: [String], merges: [Merge], phrases: [String] = []) throws {
        guard Set(specialTokens).count == specialTokens.count else {
            throw NeuralNetError("tokenizer: duplicate special tokens in \(specialTokens)")
        }
        if let empty = specialTokens.firstIndex(where: \.isEmpty) {
            throw NeuralNetError("tokenizer: special token \(empty) is empty")
        }
        guard Set(phrases).count == phrases.count else {
            throw NeuralNetError("tokenizer: a phrase is listed twice in \(phrases)")
        }
        if let bad = phrases.firstIndex(where: { $0.isEmpty || $0.first!.isWhitespace || $0.last!.isWhitespace }) {
            throw NeuralNetError("tokenizer: phrase \(bad) ('\(phrases[bad])') is empty or starts or ends with whitespace")
        }
        self.specialTokens = specialTokens
        self.merges = merges
        self.phrases = phrases
        let base = Int32(specialTokens.count)
        var bytes = specialTokens.map { Array($0.utf8) }
        for b in 0..<256 { bytes.append([UInt8(b)]) }
        var ranks: [UInt64: Int32] = [:]
        for (i, m) in merges.enumerated() {
            let next = Int32(bytes.count)
            guard m.left >= base, m.right >= base, m.left < next, m.right < next else {
                throw NeuralNetError("tokenizer: merge \(i) (\(m.left), \(m.right)) refers to an id that is special or not yet defined")
            }
            bytes.append(bytes[Int(m.left)] + bytes[Int(m.right)])
            ranks[Self.key(m.left, m.right)] = next
        }
        var byFirst: [UInt8: [(id: Int32, bytes: [UInt8])]] = [:]
        for phrase in phrases {
            let id = Int32(bytes.count)
            bytes.append(Array(phrase.utf8))
            byFirst[bytes[Int(id)][0], default: []].append((id, bytes[Int(id)]))
        }
        self.phraseBytes = byFirst.mapValues { $0.sorted { $0.bytes.count > $1.bytes.count } }
        for id in bytes.count - phrases.count..<bytes.count { bytes[id] = [0x20] + bytes[id] }
        self.ranks = ranks
        self.tokenBytes = bytes
        self.specialBytes = specialTokens.enumerated()
            .map { (Int32($0.offset), Array($0.element.utf8)) }
            .sorted { $0.1.count > $1.1.count }
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    // MARK: training

    /// Learns merges from a corpus until the vocabulary, `phrases` included, reaches
    /// `vocabSize` or no pair occurs twice. Ties go to the smaller pair, so training is
    /// deterministic. Phrase occurrences are one token already and teach no merges.
    public static func train(corpus: [String], vocabSize: Int, specialTokens: [String] = defaultSpecialTokens,
                             phrases: [String] = []) throws -> BPETokenizer {
        let base = specialTokens.count + 256 + phrases.count
        guard vocabSize >= base else {
            throw NeuralNetError("tokenizer: vocabSize \(vocabSize) is below the \(base) ids of specials, bytes and phrases")
        }
        let empty = try BPETokenizer(specialTokens: specialTokens, merges: [], phrases: phrases)
        var counts: [[UInt8]: Int] = [:]
        for text in corpus {
            for segment in empty.segments(text) {
                guard case .text(let bytes) = segment else { continue }
                for chunk in preTokenize(bytes) { counts[chunk, default: 0] += 1 }
            }
        }
        let off = Int32(specialTokens.count)
        var words = counts.map { (ids: $0.key.map { Int32($0) + off }, count: $0.value) }
        words.sort { $0.ids.lexicographicallyPrecedes($1.ids) }
        var merges: [Merge] = []
        while base + merges.count < vocabSize {
            var pairs: [UInt64: Int] = [:]
            for w in words where w.ids.count > 1 {
                for j in 0..<(w.ids.count - 1) { pairs[key(w.ids[j], w.ids[j + 1]), default: 0] += w.count }
            }
            guard let best = pairs.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }),
                  best.value >= 2 else { break }
            let a = Int32(truncatingIfNeeded: best.key >> 32), b = Int32(truncatingIfNeeded: best.key & 0xFFFF_FFFF)
            let newId = Int32(specialTokens.count + 256 + merges.count)
            merges.append(Merge(left: a, right: b))
            for w in words.indices where words[w].ids.count > 1 {
                words[w].ids = replacePair(words[w].ids, a, b, newId)
            }
        }
        return try BPETokenizer(specialTokens: specialTokens, merges: merges, phrases: phrases)
    }

    private static func replacePair(_ ids: [Int32], _ a: Int32, _ b: Int32, _ new: Int32) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(ids.count)
        var i = 0
        while i < ids.count {
            if i + 1 < ids.count && ids[i] == a && ids[i + 1] == b { out.append(new); i += 2 } else { out.append(ids[i]); i += 1 }
        }
        return out
    }

    // MARK: encoding

    /// A run of text still to split into chunks, or one finished id (a special token or a phrase).
    enum Segment { case special(Int32), text([UInt8]) }

    /// Splits UTF-8 text into special tokens and the plain runs between them.
    func splitSpecials(_ text: String) -> [Segment] {
        let bytes = Array(text.utf8)
        var out: [Segment] = []
        var run: [UInt8] = []
        var i = 0
        outer: while i < bytes.count {
            for (id, sb) in specialBytes where bytes[i] == sb[0] && i + sb.count <= bytes.count {
                if bytes[i..<(i + sb.count)].elementsEqual(sb) {
                    if !run.isEmpty { out.append(.text(run)); run = [] }
                    out.append(.special(id))
                    i += sb.count
                    continue outer
                }
            }
            run.append(bytes[i]); i += 1
        }
        if !run.isEmpty { out.append(.text(run)) }
        return out
    }

    /// `splitSpecials`, with every phrase written as a word of its own split out of the
    /// plain runs as its single id.
    func segments(_ text: String) -> [Segment] {
        let split = splitSpecials(text)
        guard !phrases.isEmpty else { return split }
        return split.flatMap { segment -> [Segment] in
            guard case .text(let bytes) = segment else { return [segment] }
            return splitPhrases(bytes)
        }
    }

    private func splitPhrases(_ bytes: [UInt8]) -> [Segment] {
        func isWordByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b >= 0x80
        }
        var out: [Segment] = []
        var start = 0, i = 0
        outer: while i + 1 < bytes.count {
            if bytes[i] == 0x20, let candidates = phraseBytes[bytes[i + 1]] {
                for (id, pb) in candidates where i + 1 + pb.count <= bytes.count {
                    let end = i + 1 + pb.count
                    guard bytes[(i + 1)..<end].elementsEqual(pb), end == bytes.count || !isWordByte(bytes[end]) else { continue }
                    if start < i { out.append(.text(Array(bytes[start..<i]))) }
                    out.append(.special(id))
                    i = end; start = end
                    continue outer
                }
            }
            i += 1
        }
        if start < bytes.count { out.append(.text(Array(bytes[start...]))) }
        return out
    }

    /// Chunks merges never cross: runs of letters, of digits, of other symbols, each
    /// taking one leading space; runs of whitespace.
    static func preTokenize(_ bytes: [UInt8]) -> [[UInt8]] {
        enum Kind { case letter, digit, space, other }
        func kind(_ s: Unicode.Scalar) -> Kind {
            if s.properties.isWhitespace { return .space }
            if s.properties.isAlphabetic { return .letter }
            if s.properties.numericType != nil { return .digit }
            return .other
        }
        var chunks: [[UInt8]] = []
        var cur: [UInt8] = []
        var curKind: Kind? = nil
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            let k = kind(scalar)
            let sb = Array(String(scalar).utf8)
            if k == curKind {
                cur += sb
            } else if curKind == .space, cur.last == 0x20 {
                cur.removeLast()
                if !cur.isEmpty { chunks.append(cur) }
                cur = [0x20] + sb
                curKind = k
            } else {
                if !cur.isEmpty { chunks.append(cur) }
                cur = sb
                curKind = k
            }
        }
        if !cur.isEmpty { chunks.append(cur) }
        return chunks
    }

    private func encodeChunk(_ chunk: [UInt8], into out: inout [Int32]) {
        let off = Int32(specialTokens.count)
        var ids = chunk.map { Int32($0) + off }
        while ids.count > 1 {
            var bestId = Int32.max, bestPos = -1
            for j in 0..<(ids.count - 1) {
                if let r = ranks[Self.key(ids[j], ids[j + 1])], r < bestId { bestId = r; bestPos = j }
            }
            if bestPos < 0 { break }
            let m = merges[Int(bestId) - specialTokens.count - 256]
            ids = Self.replacePair(ids, m.left, m.right, bestId)
        }
        out += ids
    }

    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        for segment in segments(text) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let bytes): for chunk in Self.preTokenize(bytes) { encodeChunk(chunk, into: &out) }
            }
        }
        return out
    }

    /// Bytes of the ids joined and read as UTF-8 (invalid sequences, possible in a
    /// truncated sample, become U+FFFD). `skipSpecial` drops special tokens.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            let i = Int(id)
            guard i >= 0, i < tokenBytes.count else { continue }
            if skipSpecial && i < specialTokens.count { continue }
            bytes += tokenBytes[i]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: JSON

    private struct Stored: Codable {
        var format: String
        var specialTokens: [String]
        var merges: [[Int32]]
        var phrases: [String]?   // absent when there are none, so older files read as before
    }

    public func jsonData() throws -> Data {
        let s = Stored(format: "skinr1-bpe-1", specialTokens: specialTokens, merges: merges.map { [$0.left, $0.right] },
                       phrases: phrases.isEmpty ? nil : phrases)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(s)
    }

    public init(jsonData: Data, source: String = "tokenizer JSON") throws {
        let s: Stored
        do { s = try JSONDecoder().decode(Stored.self, from: jsonData) } catch {
            throw NeuralNetError("\(source): not a tokenizer file (\(error))")
        }
        guard s.format == "skinr1-bpe-1" else { throw NeuralNetError("\(source): unknown tokenizer format \(s.format)") }
        var merges: [Merge] = []
        for (i, m) in s.merges.enumerated() {
            guard m.count == 2 else { throw NeuralNetError("\(source): merge \(i) has \(m.count) ids, expected 2") }
            merges.append(Merge(left: m[0], right: m[1]))
        }
        do { try self.init(specialTokens: s.specialTokens, merges: merges, phrases: s.phrases ?? []) } catch let e as NeuralNetError {
            throw NeuralNetError("\(source): \(e.message)")
        }
    }

    public func save(to url: URL) throws { try jsonData().write(to: url, options: .atomic) }
    public static func load(from url: URL) throws -> BPETokenizer {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw NeuralNetError("\(url.path): cannot read (\(error))") }
        return try BPETokenizer(jsonData: data, source: url.path)
    }

    public static func == (a: BPETokenizer, b: BPETokenizer) -> Bool {
        a.specialTokens == b.specialTokens && a.merges == b.merges && a.phrases == b.phrases
    }
}
