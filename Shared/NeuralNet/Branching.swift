// Branched rows: one prompt followed by several answers to it in a single batch row.
// Every answer sees the image, the prompt and its own earlier tokens only, at the positions
// it would take alone after the prompt, so the row gives each answer the log-probabilities
// and gradients of a row of its own while the image and the prompt are computed once. GRPO's
// K answers to one prompt then cost one prompt instead of K.
// Legend: B batch, V_n visual tokens, T text tokens, S = V_n + T decoder slots.

/// The shape of one branched row: `promptLength` text tokens, then the answers one after
/// another (`answerLengths`), then padding up to the batch's T.
public struct BranchedRow: Sendable, Hashable {
    public var promptLength: Int
    public var answerLengths: [Int]

    public init(promptLength: Int, answerLengths: [Int]) {
        self.promptLength = promptLength; self.answerLengths = answerLengths
    }

    /// Text tokens the row uses (prompt and answers, without padding).
    public var length: Int { promptLength + answerLengths.reduce(0, +) }

    /// Text index of answer j's first token.
    public func answerStart(_ j: Int) -> Int { promptLength + answerLengths[..<j].reduce(0, +) }

    /// The longest sequence one answer forms with the prompt (what a plain row would need).
    public var longestAlone: Int { promptLength + (answerLengths.max() ?? 0) }
}

/// The per-slot tables of a branched batch, derived once per forward and kept for the backward.
final class DecoderLayout {
    /// (B, S) the position each decoder slot takes (learned and rotary positions).
    let positions: UnsafeMutablePointer<Int32>
    /// (B, S, 2) keys [lo, hi) a query slot must not attend to: the earlier answers of its row.
    let holes: UnsafeMutablePointer<Int32>
    /// (B, T) the decoder slot whose output predicts text token t.
    let sources: UnsafeMutablePointer<Int32>

    init(rows: [BranchedRow], vn: Int, t: Int) {
        let b = rows.count, s = vn + t
        positions = .allocate(capacity: b * s)
        holes = .allocate(capacity: b * s * 2)
        sources = .allocate(capacity: b * t)
        positions.initialize(repeating: 0, count: b * s)
        holes.initialize(repeating: 0, count: b * s * 2)
        sources.initialize(repeating: 0, count: b * t)
        for (bi, row) in rows.enumerated() {
            let p = row.promptLength
            for si in 0..<(vn + p) { positions[bi * s + si] = Int32(si) }
            for ti in 0..<min(p, t) { sources[bi * t + ti] = Int32(vn + ti - 1) }
            var start = p
            for length in row.answerLengths {
                for k in 0..<length {
                    let ti = start + k, slot = bi * s + vn + ti
                    positions[slot] = Int32(vn + p + k)
                    holes[slot * 2] = Int32(vn + p)
                    holes[slot * 2 + 1] = Int32(vn + start)
                    // The first token of an answer is predicted by the prompt's last slot.
                    sources[bi * t + ti] = Int32(k == 0 ? vn + p - 1 : vn + ti - 1)
                }
                start += length
            }
            // Padding: position 0, no hole, predicted by the slot before it; nothing real sees it.
            for ti in start..<t { sources[bi * t + ti] = Int32(vn + ti - 1) }
        }
    }

    deinit {
        positions.deallocate(); holes.deallocate(); sources.deallocate()
    }
}

extension PolicyBatch {
    /// A batch of branched rows: row b is `prompts[b]` followed by each of `answers[b]`, with
    /// image b (B images). Rows are right-padded to the longest.
    public init(images: [Float], prompts: [[Int32]], answers: [[[Int32]]], pad: Int32 = 0) throws {
        guard prompts.count == answers.count else {
            throw NeuralNetError("branched batch: \(prompts.count) prompts but \(answers.count) answer lists")
        }
        let sequences = zip(prompts, answers).map { $0 + $1.joined() }
        try self.init(images: images, sequences: sequences, pad: pad)
        branches = zip(prompts, answers).map { BranchedRow(promptLength: $0.count, answerLengths: $1.map(\.count)) }
    }

    /// Answer j of row b's entries of a (B*T) per-token array (log-probabilities, or their
    /// gradients): `values[b*T + start ..< b*T + start + length]`.
    public func answerRange(row b: Int, answer j: Int) -> Range<Int> {
        guard let rows = branches else { preconditionFailure("answerRange needs a branched batch") }
        let start = b * length + rows[b].answerStart(j)
        return start..<(start + rows[b].answerLengths[j])
    }
}

/// The first row of each distinct (image, prompt) pair, and for every row the index of its
/// pair in that list. Images of an unexpected size are not compared (every row is distinct;
/// the trunk reports the size).
func distinctRows(images: [Float], prompts: [[Int32]], imageFloats: Int) -> (distinct: [Int], slot: [Int]) {
    let b = prompts.count
    guard images.count == b * imageFloats else { return (Array(0..<b), Array(0..<b)) }
    var distinct: [Int] = [], slot: [Int] = []
    for i in 0..<b {
        let image = images[(i * imageFloats)..<((i + 1) * imageFloats)]
        if let u = distinct.firstIndex(where: { prompts[$0] == prompts[i] && images[($0 * imageFloats)..<(($0 + 1) * imageFloats)] == image }) {
            slot.append(u)
        } else {
            slot.append(distinct.count)
            distinct.append(i)
        }
    }
    return (distinct, slot)
}

extension PolicyModel {
    /// log pi of each answer's tokens after its image and prompt (teacher-forced, no
    /// dropout), answers cut to the text capacity after their prompt. Rows that repeat an
    /// image and a prompt (a group's answers) run as one branched row.
    public func answerLogProbs(images: [Float], prompts: [[Int32]], answers: [[Int32]]) throws -> [[Float]] {
        guard prompts.count == answers.count else {
            throw NeuralNetError("answerLogProbs: \(prompts.count) prompts but \(answers.count) answers")
        }
        try Self.checkPrompts(prompts)
        let imageFloats = config.imageSize * config.imageSize * 3
        guard images.count == prompts.count * imageFloats else {
            throw NeuralNetError("images: expected \(prompts.count * imageFloats) floats for \(prompts.count) rows, got \(images.count)")
        }
        let (distinct, slot) = distinctRows(images: images, prompts: prompts, imageFloats: imageFloats)
        var branches = [[[Int32]]](repeating: [], count: distinct.count)
        var place: [(row: Int, answer: Int)] = []
        for i in prompts.indices {
            let kept = max(0, config.textCapacity - prompts[i].count)
            branches[slot[i]].append(Array(answers[i].prefix(kept)))
            place.append((slot[i], branches[slot[i]].count - 1))
        }
        let batch = try PolicyBatch(images: distinct.flatMap { images[($0 * imageFloats)..<(($0 + 1) * imageFloats)] },
                                    prompts: distinct.map { prompts[$0] }, answers: branches)
        let lp = try logProbs(batch)
        return place.map { Array(lp[batch.answerRange(row: $0.row, answer: $0.answer)]) }
    }
}
