extension PolicyBatch {
    /// Right-pads token lists of different lengths into one batch (T = the longest).
    /// Padding sits after each sequence, so causal attention never lets it reach real tokens.
    public init(images: [Float], sequences: [[Int32]], pad: Int32 = 0) throws {
        guard !sequences.isEmpty else { throw NeuralNetError("batch needs at least one sequence") }
        if let empty = sequences.firstIndex(where: \.isEmpty) { throw NeuralNetError("sequence \(empty) is empty") }
        let t = sequences.map(\.count).max()!
        var tokens = [Int32](repeating: pad, count: sequences.count * t)
        for (i, s) in sequences.enumerated() {
            for (j, tok) in s.enumerated() { tokens[i * t + j] = tok }
        }
        self.init(images: images, tokens: tokens, batchSize: sequences.count, length: t)
    }

    /// A weight per token (B*T) that is 1 on the response part of each sequence, that is
    /// from `responseStarts[b]` to the sequence's own end, and 0 on prompts and padding
    /// (METHOD 6.1: the SFT loss counts response tokens only).
    public static func responseMask(lengths: [Int], responseStarts: [Int], length t: Int) throws -> [Float] {
        guard lengths.count == responseStarts.count else {
            throw NeuralNetError("responseMask: \(lengths.count) lengths but \(responseStarts.count) response starts")
        }
        var mask = [Float](repeating: 0, count: lengths.count * t)
        for (b, (len, start)) in zip(lengths, responseStarts).enumerated() {
            guard 0 <= start, start <= len, len <= t else {
                throw NeuralNetError("responseMask: row \(b) has response start \(start), length \(len), batch length \(t)")
            }
            for j in start..<len { mask[b * t + j] = 1 }
        }
        return mask
    }
}

extension PolicyModel {
    /// log pi(token) for every token of every sequence (each list as long as its sequence;
    /// entry 0 is predicted from the image alone). No dropout: the policy's own
    /// log-probabilities, as GRPO's ratio and the reference's KL term need.
    public func sequenceLogProbs(images: [Float], sequences: [[Int32]]) throws -> [[Float]] {
        let batch = try PolicyBatch(images: images, sequences: sequences)
        let lp = try logProbs(batch)
        return sequences.enumerated().map { i, s in Array(lp[(i * batch.length)..<(i * batch.length + s.count)]) }
    }
}
