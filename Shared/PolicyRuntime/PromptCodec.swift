import NeuralNet

/// How prompts and answers become token sequences, in one place for the learner, the
/// rollout workers and the evaluator:  <bos> prompt-tokens | answer-tokens <eos>.
/// The answer (response) starts right after the prompt; only it counts in the losses.
public struct PromptCodec: Sendable {
    public let tokenizer: BPETokenizer
    /// Text positions available after the visual prefix.
    public let textCapacity: Int

    public init(tokenizer: BPETokenizer, config: ModelConfig) {
        self.tokenizer = tokenizer
        self.textCapacity = config.textCapacity
    }

    /// Prompt tokens that fit after the start token when `reserve` positions stay free for
    /// the answer; longer prompts lose their beginning.
    public func promptRoom(reserve: Int) -> Int { max(1, textCapacity - reserve - 1) }

    /// The prompt's tokens, left-truncated so that `reserve` positions remain for the answer.
    public func promptTokens(_ prompt: String, reserve: Int) -> [Int32] {
        var body = tokenizer.encode(prompt)
        let room = promptRoom(reserve: reserve)
        if body.count > room { body = Array(body.suffix(room)) }
        return [tokenizer.bos ?? tokenizer.pad] + body
    }

    /// A full training sequence and where its response starts; the answer is cut to fit.
    /// With `given`, a beginning of `answer` that is context rather than target: its tokens
    /// stay in the sequence but the response (and so the loss) starts after them.
    public func trainingSequence(prompt: String, answer: String, reserve: Int,
                                 given: String = "") -> (tokens: [Int32], responseStart: Int) {
        let head = promptTokens(prompt, reserve: reserve)
        var tail = tokenizer.encode(answer)
        if let eos = tokenizer.eos { tail.append(eos) }
        let room = textCapacity - head.count
        if tail.count > room { tail = Array(tail.prefix(room)) }
        // The tokens `given` shares with the start of the answer (at a word boundary they are
        // all of its tokens).
        let shared = given.isEmpty ? 0 : zip(tokenizer.encode(given), tail).prefix { $0 == $1 }.count
        return (head + tail, head.count + shared)
    }

    /// An answer's tokens followed by the end of sequence, cut to fit after `promptLength` tokens.
    public func answerTokens(_ answer: String, promptLength: Int) -> [Int32] {
        var tail = tokenizer.encode(answer)
        if let eos = tokenizer.eos { tail.append(eos) }
        return Array(tail.prefix(max(0, textCapacity - promptLength)))
    }
}
